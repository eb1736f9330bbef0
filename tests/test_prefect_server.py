"""`hht-archival server`: the team's Prefect server on a PostgreSQL database, as a platform team runs it.

What a user checks: the server answers, its state (flow runs) is in the PostgreSQL
database it was given (created when missing), the password never appears on a
command line or in what it prints, and a bad URL is one sentence before anything
starts. The password is really checked: the database server is a throwaway
scram-sha-256 cluster. The fleet's own tests (tests/test_deployments.py,
tests/test_alerts.py) run on servers started the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import SCRAM_PASSWORD, run_cli
from tests.support.prefectserver import _free_port


def _command_lines() -> list[str]:
    """Every process's command line on this machine, as `ps` shows them to any user."""
    lines = []
    for entry in Path("/proc").iterdir():
        try:
            lines.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return lines


def test_the_server_keeps_its_state_in_postgresql_and_the_password_off_every_command_line(
    scram_cluster, tmp_path
):
    url = scram_cluster.url("hht_prefect_team", password=SCRAM_PASSWORD)  # not created yet
    port = _free_port()
    env = {
        **os.environ,
        "ARCHIVAL_PREFECT_DATABASE_URL": url,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    script = str(Path(sys.executable).with_name("hht-archival"))
    server = subprocess.Popen(
        [script, "server", "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=(tmp_path / "out.log").open("wb"),
        stderr=(tmp_path / "err.log").open("wb"),
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        _wait_healthy(api, server, tmp_path)
        listed = [line for line in _command_lines() if "server" in line and str(port) in line]
        flow = httpx.post(f"{api}/flows/", json={"name": "probe"}, timeout=30).json()
        made = httpx.post(f"{api}/flow_runs/", json={"flow_id": flow["id"], "name": "kept-in-pg"}, timeout=30)
        assert made.status_code == 201, made.text
        everywhere = _command_lines()
    finally:
        server.terminate()
        server.wait(timeout=30)
    printed = (tmp_path / "out.log").read_text() + (tmp_path / "err.log").read_text()

    with psycopg.connect(url) as conn:
        runs = conn.execute("SELECT name FROM flow_run").fetchall()
    assert runs == [("kept-in-pg",)]  # the server's state is in the database it was given
    assert listed, "the server's own process was not found"
    assert not [line for line in everywhere if SCRAM_PASSWORD in line or "Hunter2" in line]
    assert "Hunter2" not in printed
    assert f"Prefect server on http://127.0.0.1:{port} (API /api), its state in PostgreSQL" in printed


def _wait_healthy(api: str, server: subprocess.Popen, tmp_path: Path, timeout: float = 180) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited: {(tmp_path / 'err.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(
        f"the server did not answer within {timeout:g} s: {(tmp_path / 'err.log').read_text()[-2000:]}"
    )


def test_a_bad_database_url_is_one_sentence_before_any_server_starts():
    malformed = run_cli(
        "server", env={"ARCHIVAL_PREFECT_DATABASE_URL": "postgresql://prefect@127.0.0.1:99999/p"}
    )
    assert (malformed.returncode, malformed.stdout) == (2, "")
    assert malformed.stderr == (
        "❌ ARCHIVAL_PREFECT_DATABASE_URL is not usable: its port is not a number from 1 to 65535; set it to "
        "postgresql://USER@HOST:PORT/DATABASE (the password in ~/.pgpass or in the URL), or unset it to run "
        "the server on SQLite.\n"
    )
    closed = run_cli(
        "server", env={"ARCHIVAL_PREFECT_DATABASE_URL": f"postgresql://prefect@127.0.0.1:{_free_port()}/p"}
    )
    assert closed.returncode == 1
    [sentence] = closed.stderr.splitlines()
    assert sentence.startswith("❌ The Prefect server's database could not be reached: ")
