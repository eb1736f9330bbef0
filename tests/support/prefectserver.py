"""A real Prefect server on a free loopback port, with its own PREFECT_HOME: `prefect server start`
on SQLite, or, as a team runs it, `hht-archival server` on a PostgreSQL database of its own.

Why: the CLI is used by people whose runs go to a Prefect server; running it
against a real server (not only the in-process harness) shows the flow, its
task names and its logs land there as a user would see them in the UI.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from tests.support.processes import stop


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrefectServer:
    """Context manager: starts the server, waits for /api/health, stops it on exit."""

    def __init__(
        self,
        startup_timeout: float = 120,
        postgres_admin_url: str | None = None,
        access_log: bool = False,
        database_url: str | None = None,
    ) -> None:
        """``postgres_admin_url``: run it as a team does, with `hht-archival server` on a PostgreSQL
        database of its own on that server (cloned from a migrated template, dropped on exit).
        ``database_url``: `hht-archival server` on exactly this database, as the team gives it (it
        may not exist yet; it is left as the server leaves it).
        ``access_log``: keep every request's line with its status (``responses``), for a benchmark
        that counts the server's 503s."""
        self.postgres_admin_url = postgres_admin_url
        self.database_url = database_url
        self.access_log = access_log
        self.database: str | None = None
        self.port = _free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.ui_url = f"http://127.0.0.1:{self.port}"
        self.home = Path(tempfile.mkdtemp(prefix="hht-prefect-home-"))
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        """What a client process needs to talk to this server."""
        return {
            "PREFECT_API_URL": self.api_url,
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }

    def __enter__(self) -> PrefectServer:
        if self.postgres_admin_url:
            self.database = f"hht_prefect_{uuid.uuid4().hex[:10]}"
            self.database_url = clone_migrated_postgres(self.postgres_admin_url, self.database)
        if not self.database_url:
            shutil.copy(migrated_database(), self.home / "prefect.db")  # 7 s to healthy instead of 22 s
        self._start()
        return self

    def restart(self) -> float:
        """Stop the server and start it again on the same port and database, as an upgrade or a crash
        and its supervisor would; the seconds it was away."""
        stopped = time.monotonic()
        stop(self._proc, timeout=20)
        self._start()
        return time.monotonic() - stopped

    def _start(self) -> None:
        env = {
            **os.environ,
            **self.env(),
            "PREFECT_UI_API_URL": self.api_url,
            "PREFECT_UI_URL": self.ui_url,  # the links in the server's own messages (a crash notice)
            "PREFECT_SERVER_API_PORT": str(self.port),
        }
        env.pop("PREFECT_API_URL")
        if self.access_log:
            env["PREFECT_SERVER_LOGGING_LEVEL"] = "INFO"  # uvicorn's access lines, in server.log
        if self.database_url:
            env["ARCHIVAL_PREFECT_DATABASE_URL"] = self.database_url
            command = [str(Path(sys.executable).with_name("hht-archival")), "server"]
        else:
            command = [str(Path(sys.executable).with_name("prefect")), "server", "start"]
        self._proc = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self.home / "server.log", "ab"),  # noqa: SIM115 (closed with the process)
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"prefect server exited early: {(self.home / 'server.log').read_text()[-2000:]}"
                )
            try:
                if httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.__exit__(None, None, None)
        raise RuntimeError("prefect server did not become healthy in time")

    def responses(self, status: int) -> int:
        """How many requests the server has answered with ``status`` (needs ``access_log``)."""
        log = (self.home / "server.log").read_text(errors="replace")
        return sum("uvicorn.access" in line and line.endswith(f'" {status}') for line in log.splitlines())

    def __exit__(self, *exc_info: object) -> None:
        if self._proc is not None:
            stop(self._proc, timeout=20)
        shutil.rmtree(self.home, ignore_errors=True)
        if self.database:
            from tests.support.pgcluster import drop_database

            drop_database(self.postgres_admin_url, self.database)


def migrated_database() -> Path:
    """Prefect's own SQLite database, migrated once per Prefect version by Prefect's own `prefect server
    database upgrade`: the template a new home's embedded API starts from (hht_archival/
    embedded_database.py), which each test server starts from a copy of too.

    Why: a server on a new PREFECT_HOME spends most of its start migrating an empty database (22 s
    against 7 s here), and the suite starts several.
    """
    from hht_archival.embedded_database import prepare_template

    template = prepare_template()
    assert template is not None, "this environment cannot keep Prefect's migrated database"
    return template


def _migrate(database: dict[str, str]) -> None:
    """Prefect's own `prefect server database upgrade` of the database ``database``'s settings name."""
    upgrade = [str(Path(sys.executable).with_name("prefect")), "server", "database", "upgrade", "-y"]
    environment = {**os.environ, **database, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    subprocess.run(upgrade, env=environment, capture_output=True, check=True, timeout=300)


def clone_migrated_postgres(admin_url: str, name: str) -> str:
    """A new database ``name`` holding Prefect's schema, copied from a template migrated once per
    Prefect version on that PostgreSQL server by Prefect's own `prefect server database upgrade`;
    its URL. Why: as for SQLite, a cold start spends its time migrating; a copy takes a second."""
    import prefect
    import psycopg
    from psycopg import sql

    from hht_archival.prefect_database import PREFECT_SETTING, for_prefect
    from tests.support.pgcluster import create_database, drop_database, url_with_dbname

    template = "hht_prefect_template_" + "".join(c if c.isalnum() else "_" for c in prefect.__version__)
    building = f"{template}_building"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('hht-archival prefect template'))")  # xdist workers
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (template,)).fetchone():
            # migrated under another name and renamed when whole: never half a template
            drop_database(admin_url, building)  # what a run stopped mid-migration left
            _migrate({PREFECT_SETTING: for_prefect(create_database(admin_url, building))})
            rename = sql.SQL("ALTER DATABASE {} RENAME TO {}")
            conn.execute(rename.format(sql.Identifier(building), sql.Identifier(template)))
        copy = sql.SQL("CREATE DATABASE {} TEMPLATE {}")
        conn.execute(copy.format(sql.Identifier(name), sql.Identifier(template)))
        conn.execute("SELECT pg_advisory_unlock(hashtext('hht-archival prefect template'))")
    return url_with_dbname(admin_url, name)


def api_request(method: str, url: str, json: object = None) -> httpx.Response:
    """One request to a Prefect API, retried on 503 as Prefect's own client does.

    Why: a server on SQLite answers 503 when its database is busy (several test
    workers at once make that likely); that means "try again", not a failure.
    """
    for attempt in range(6):
        reply = httpx.request(method, url, json=json, timeout=30)
        if reply.status_code != 503:
            break
        time.sleep(0.5 * 2**attempt)
    reply.raise_for_status()
    return reply


def failed_archive_reasons(server, sponsor: str, since: str, expected: str, timeout: float = 60) -> list[str]:
    """The reasons of a sponsor's (production) hht.archive.failed events since ``since``, polled
    (the server persists events in batches) until one of them is ``expected`` or ``timeout`` passed."""
    wanted = {
        "filter": {
            "occurred": {"since": since},
            "event": {"name": ["hht.archive.failed"]},
            "resource": {"id": [f"hht.sponsor.{sponsor}.production"]},
        },
        "limit": 50,
    }
    deadline = time.monotonic() + timeout
    while True:
        events = api_request("POST", f"{server.api_url}/events/filter", json=wanted).json()["events"]
        reasons = [event["payload"].get("reason") for event in events]
        if expected in reasons or time.monotonic() > deadline:
            return reasons
        time.sleep(0.5)


def prefect_cli(server, *args: str, cwd, timeout: float = 180) -> subprocess.CompletedProcess:
    """`prefect --no-prompt ARGS` in ``cwd`` against ``server``, as a person at a terminal runs it."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("prefect")), "--no-prompt", *args],
        cwd=cwd,
        env={**os.environ, **server.env()},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
