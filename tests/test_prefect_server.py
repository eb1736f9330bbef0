"""`hht-archival server`: the team's Prefect server on a PostgreSQL database, as a platform team runs it.

What a user checks: the server answers, its state (flow runs) is in the PostgreSQL
database it was given (created when missing), the password never appears on a
command line or in what it prints, and a bad URL is one sentence before anything
starts. The password is really checked: the database server is a throwaway
scram-sha-256 cluster. The fleet's own tests (tests/test_deployments.py,
tests/test_alerts.py) run on servers started the same way.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import psycopg

from tests.conftest import SCRAM_PASSWORD, run_cli
from tests.support.prefectserver import PrefectServer, _free_port


def _command_lines() -> list[str]:
    """Every process's command line on this machine, as `ps` shows them to any user."""
    lines = []
    for entry in Path("/proc").iterdir():
        try:
            lines.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return lines


def test_the_server_keeps_its_state_in_postgresql_and_the_password_off_every_command_line(scram_cluster):
    url = scram_cluster.url("hht_prefect_team", password=SCRAM_PASSWORD)  # not created yet
    with PrefectServer(database_url=url) as server:  # `hht-archival server`, waited for until healthy
        api = server.api_url
        listed = [line for line in _command_lines() if "server" in line and str(server.port) in line]
        flow = httpx.post(f"{api}/flows/", json={"name": "probe"}, timeout=30).json()
        made = httpx.post(f"{api}/flow_runs/", json={"flow_id": flow["id"], "name": "kept-in-pg"}, timeout=30)
        assert made.status_code == 201, made.text
        everywhere = _command_lines()
        printed = (server.home / "server.log").read_text()  # all it printed (stdout is empty)

    with psycopg.connect(url) as conn:
        runs = conn.execute("SELECT name FROM flow_run").fetchall()
    assert runs == [("kept-in-pg",)]  # the server's state is in the database it was given
    assert listed, "the server's own process was not found"
    assert not [line for line in everywhere if SCRAM_PASSWORD in line or "Hunter2" in line]
    assert "Hunter2" not in printed
    assert f"Prefect server on http://127.0.0.1:{server.port} (API /api), its state in PostgreSQL" in printed


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
