"""Throwaway PostgreSQL clusters and seeded diary databases for tests.

Why: the archival flow shells out to ``pg_dump`` against a real server, so a mock is worthless.
Tests need (a) a cluster they fully own -- to test password auth without touching the shared
server, and to stop/restart it under the flow for fault tests -- and (b) a database with
realistic, deterministic content (non-ASCII text, NULLs, jsonb, sequences, foreign keys) whose
contents can be compared row-for-row after a dump/restore round trip.

The suite usually runs as root, and ``initdb``/``pg_ctl`` refuse to run as root, so server
commands are run as the ``postgres`` OS user via ``subprocess``'s ``user=``/``group=`` arguments
(setuid in the child, no ``runuser``/``sudo`` and no shell). Passwords never appear on a command
line: ``initdb`` reads the superuser password from a 0600 file that is deleted right after.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
PG_OS_USER = "postgres"

# Row counts produced by seed_diary_database().
SEED_ROW_COUNTS = {"sponsors": 3, "patients": 1000, "diary_entries": 3000, "audit_events": 1000}
NON_ASCII_NOTE = "Überprüfung – naïve café, 日本語, emoji 🩺"


# --------------------------------------------------------------------------- binaries


def _has_server_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in SERVER_BINARIES)


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.name  # /usr/lib/postgresql/<version>/bin
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def find_pg_bindir() -> Path | None:
    """Return a directory holding ``initdb``, ``pg_ctl`` and ``postgres``, or None.

    Order: ``pg_config --bindir``, newest ``/usr/lib/postgresql/*/bin``, then the directory of
    ``initdb`` on PATH (resolved through symlinks, since /usr/local/bin/initdb may be a link or
    a wrapper whose siblings are not the server binaries).
    """
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out:
            candidates.append(Path(out))
    versioned = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates.extend(Path(p) for p in versioned)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if _has_server_binaries(bindir):
            return bindir
    return None


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- cluster


class ThrowawayCluster:
    """A private PostgreSQL cluster on 127.0.0.1:<free port>, deleted on exit.

    >>> with ThrowawayCluster(auth="scram-sha-256", password="s3cret") as pg:
    ...     psycopg.connect(pg.url(password="s3cret"))
    """

    host = "127.0.0.1"
    superuser = "postgres"

    def __init__(self, auth: str = "trust", password: str | None = None) -> None:
        if auth not in ("trust", "scram-sha-256", "md5", "password"):
            raise ValueError(f"unsupported auth method {auth!r}")
        if auth != "trust" and password is None:
            raise ValueError(f"auth={auth!r} needs a password")
        self.auth = auth
        self.password = password
        self.port: int = 0
        self.tmpdir: Path | None = None
        self.bindir: Path | None = None
        self._as_postgres = os.geteuid() == 0
        self._running = False

    # -- paths
    @property
    def datadir(self) -> Path:
        return self._require_tmp() / "data"

    @property
    def sockdir(self) -> Path:
        return self._require_tmp() / "sock"

    @property
    def logfile(self) -> Path:
        return self._require_tmp() / "postgres.log"

    def _require_tmp(self) -> Path:
        if self.tmpdir is None:
            raise RuntimeError("cluster not set up; use it as a context manager")
        return self.tmpdir

    def log_text(self) -> str:
        """The server log so far (for assertion messages)."""
        try:
            return self.logfile.read_text(errors="replace")
        except OSError:
            return ""

    # -- process helpers
    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        assert self.bindir is not None
        cmd = [str(self.bindir / args[0]), *args[1:]]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LC_ALL": "C",
            "LANG": "C",
            "HOME": str(self._require_tmp()),
            "TZ": "UTC",
        }
        kwargs: dict = {}
        if self._as_postgres:
            kwargs = {"user": PG_OS_USER, "group": PG_OS_USER, "extra_groups": []}
        return subprocess.run(
            cmd,
            cwd=self._require_tmp(),
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kwargs,
        )

    def _check(self, proc: subprocess.CompletedProcess[str], what: str) -> None:
        if proc.returncode != 0:
            raise RuntimeError(
                f"{what} failed (exit {proc.returncode})\nstdout:\n{proc.stdout}\n"
                f"stderr:\n{proc.stderr}\nserver log:\n{self.log_text()[-4000:]}"
            )

    def _chown(self, path: Path) -> None:
        if self._as_postgres:
            entry = pwd.getpwnam(PG_OS_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    # -- lifecycle
    def __enter__(self) -> ThrowawayCluster:
        self.bindir = find_pg_bindir()
        if self.bindir is None:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found")
        self.tmpdir = Path(tempfile.mkdtemp(prefix="hht-pgcluster-", dir="/tmp"))
        try:
            self.tmpdir.chmod(0o700)
            self._chown(self.tmpdir)
            self.sockdir.mkdir(mode=0o700)
            self._chown(self.sockdir)
            self._initdb()
            self.start()
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._cleanup()

    def _initdb(self) -> None:
        args = [
            "initdb",
            "-D",
            str(self.datadir),
            f"--auth={self.auth}",
            "-U",
            self.superuser,
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        ]
        pwfile = self._require_tmp() / "pwfile"
        if self.password is not None:
            fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(self.password + "\n")
            self._chown(pwfile)
            args.append(f"--pwfile={pwfile}")
        try:
            self._check(self._run(*args), "initdb")
        finally:
            pwfile.unlink(missing_ok=True)

    def start(self) -> None:
        """Start the server (on the same port if it ran before, else a free one)."""
        if self._running:
            return
        fixed_port = self.port != 0
        attempts = 1 if fixed_port else 5
        for attempt in range(attempts):
            if not fixed_port:
                self.port = _free_port(self.host)
            options = (
                f"-p {self.port} -k {self.sockdir} -c listen_addresses={self.host} "
                "-c fsync=off -c TimeZone=UTC"
            )
            proc = self._run(
                "pg_ctl",
                "-D",
                str(self.datadir),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "-l",
                str(self.logfile),
                "start",
            )
            if proc.returncode == 0:
                self._running = True
                return
            port_clash = "already in use" in self.log_text()
            if fixed_port or not port_clash or attempt == attempts - 1:
                self._check(proc, "pg_ctl start")
            time.sleep(0.2)

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server (``immediate`` by default: tests do not need a clean shutdown)."""
        if not self._running:
            return
        proc = self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop")
        self._check(proc, f"pg_ctl stop -m {mode}")
        self._running = False

    def restart(self) -> None:
        """Fast-stop then start again on the same port (existing connections are dropped)."""
        self.stop(mode="fast")
        self.start()

    def _cleanup(self) -> None:
        if self.tmpdir is None:
            return
        try:
            if self._running:
                self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop")
                self._running = False
        finally:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def url(self, dbname: str = "postgres", password: str | None = None) -> str:
        """A ``postgresql://`` URL; the password is included only when passed explicitly."""
        userinfo = quote(self.superuser, safe="")
        if password is not None:
            userinfo += ":" + quote(password, safe="")
        return f"postgresql://{userinfo}@{self.host}:{self.port}/{quote(dbname, safe='')}"


# --------------------------------------------------------------------------- shared server


def available_postgres_url() -> str:
    """``$TEST_DATABASE_URL`` if set, else the local trust-auth server on 127.0.0.1:5432."""
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_POSTGRES_URL


def can_connect(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except (psycopg.Error, OSError):
        return False


def url_with_dbname(url: str, dbname: str) -> str:
    """Return ``url`` (URL or key=value conninfo) as a ``postgresql://`` URL for ``dbname``.

    Keeps user, password, host, port and any other parameters (as query string).
    """
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    user = params.pop("user", None)
    password = params.pop("password", None)
    host = params.pop("host", None) or ""
    port = params.pop("port", None)
    db = params.pop("dbname")
    userinfo = ""
    if user is not None:
        userinfo = quote(str(user), safe="")
        if password is not None:
            userinfo += ":" + quote(str(password), safe="")
        userinfo += "@"
    if ":" in host and not host.startswith("/") and "," not in host:
        netloc_host = f"[{host}]"
    else:
        netloc_host = quote(host, safe="")
    netloc = f"{userinfo}{netloc_host}" + (f":{port}" if port else "")
    query = ("?" + urlencode({k: str(v) for k, v in params.items()})) if params else ""
    return f"postgresql://{netloc}/{quote(str(db), safe='')}{query}"


def create_database(admin_url: str, name: str) -> str:
    """Create database ``name`` and return a URL for it (same credentials as ``admin_url``)."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return url_with_dbname(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    """Drop database ``name`` if it exists, terminating any sessions still connected to it."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# --------------------------------------------------------------------------- seeding

# Deterministic: generate_series only, no random(). Escape-heavy text exercises COPY round trips.
_SEED_SQL = r"""
CREATE TABLE sponsors (
    sponsor_id   text PRIMARY KEY,
    display_name text NOT NULL,
    created_at   timestamptz NOT NULL
);
INSERT INTO sponsors VALUES
    ('callisto', 'Callisto Therapeutics', '2022-03-01 09:00:00+00'),
    ('bonn',     'Universitätsklinikum Bonn – Studienzentrum', '2022-06-15 12:30:00+02'),
    ('kyoto',    '京都臨床試験センター', '2023-01-10 08:00:00+09');

CREATE TABLE patients (
    patient_id   integer PRIMARY KEY,
    sponsor_id   text NOT NULL REFERENCES sponsors (sponsor_id),
    external_ref uuid NOT NULL UNIQUE,
    enrolled_on  date NOT NULL,
    birth_year   smallint,
    site_code    text
);
INSERT INTO patients
SELECT g,
       (ARRAY['callisto', 'bonn', 'kyoto'])[1 + g % 3],
       md5('patient-' || g)::uuid,
       date '2023-01-01' + (g % 365),
       CASE WHEN g % 10 = 0 THEN NULL ELSE 1940 + g % 60 END,
       CASE WHEN g % 13 = 0 THEN NULL ELSE 'SITE-' || lpad((g % 17)::text, 3, '0') END
FROM generate_series(1, 1000) AS g;

CREATE TABLE diary_entries (
    entry_id    uuid PRIMARY KEY,
    patient_id  integer NOT NULL REFERENCES patients (patient_id),
    recorded_at timestamptz NOT NULL,
    payload     jsonb,
    note        text,
    score       numeric(6, 2)
);
INSERT INTO diary_entries
SELECT md5('entry-' || g)::uuid,
       1 + g % 1000,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '17 minutes 3 seconds',
       CASE WHEN g % 7 = 0 THEN NULL
            ELSE jsonb_build_object(
                'pain', g % 11,
                'sleep_hours', (g % 9) + 0.5,
                'tags', jsonb_build_array('t' || g % 5, 'Überprüfung'),
                'mood', (ARRAY['gut', '良い', '🙂'])[1 + g % 3])
       END,
       CASE g % 5
            WHEN 0 THEN NULL
            WHEN 1 THEN 'Überprüfung – naïve café, 日本語, emoji 🩺 #' || g
            WHEN 2 THEN E'entry ' || g || E' with\ttab, "quotes", \\backslash\nand newline'
            ELSE 'entry ' || g
       END,
       CASE WHEN g % 11 = 0 THEN NULL ELSE (g % 1000) / 10.0 END
FROM generate_series(1, 3000) AS g;

CREATE TABLE audit_events (
    event_id    bigserial PRIMARY KEY,
    occurred_at timestamptz NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    detail      jsonb
);
INSERT INTO audit_events (occurred_at, actor, action, detail)
SELECT timestamptz '2024-02-01 00:00:00+00' + g * interval '1 hour',
       (ARRAY['svc-archival', 'dr.müller', 'admin@kyoto'])[1 + g % 3],
       (ARRAY['login', 'export', 'update', 'delete'])[1 + g % 4],
       CASE WHEN g % 4 = 0 THEN NULL ELSE jsonb_build_object('seq', g, 'ok', g % 2 = 0) END
FROM generate_series(1, 1000) AS g
ORDER BY g;
"""


def seed_diary_database(url: str) -> dict[str, int]:
    """Create and fill the diary tables in ``url``'s database; returns SEED_ROW_COUNTS."""
    with psycopg.connect(url, connect_timeout=10) as conn:
        conn.execute(_SEED_SQL)
    return dict(SEED_ROW_COUNTS)


def _public_tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname"
    ).fetchall()
    return [r[0] for r in rows]


def table_snapshot(url: str) -> dict[str, list[tuple]]:
    """Every public table's rows as text, sorted, for comparing two databases' content.

    The session is pinned to UTC / ISO dates / full float precision and sorting uses the "C"
    collation, so equal data yields equal snapshots across databases and clusters.
    """
    snapshot: dict[str, list[tuple]] = {}
    with psycopg.connect(url, connect_timeout=10) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("SET DateStyle = 'ISO, YMD'")
        conn.execute("SET IntervalStyle = 'postgres'")
        conn.execute("SET extra_float_digits = 3")
        for table in _public_tables(conn):
            query = sql.SQL('SELECT t::text COLLATE "C" FROM public.{} AS t ORDER BY 1').format(
                sql.Identifier(table)
            )
            snapshot[table] = conn.execute(query).fetchall()
    return snapshot


def row_counts(url: str) -> dict[str, int]:
    """``{table: count(*)}`` for every table in schema public."""
    counts: dict[str, int] = {}
    with psycopg.connect(url, connect_timeout=10) as conn:
        for table in _public_tables(conn):
            query = sql.SQL("SELECT count(*) FROM public.{}").format(sql.Identifier(table))
            row = conn.execute(query).fetchone()
            counts[table] = int(row[0]) if row else 0
    return counts


def pg_dump_waiting_on_a_lock(database_url: str) -> bool:
    """Whether a pg_dump of ``database_url``'s database is waiting for a table lock right now."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        return bool(
            conn.execute(
                "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = 'pg_dump' AND wait_event_type = 'Lock'"
            ).fetchone()
        )
