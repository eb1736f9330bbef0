"""The main command as a CI runner starts it: a fresh HOME, no Prefect server, a machine busy with other work.

What a user checks: every run exits 0 and did its job; with the flag off no
engine starts at all (no Prefect database appears); with it on the run goes
through Prefect (its flow runs are in the embedded API's database); and an
embedded API that cannot start is one sentence, with the local log written.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from hht_archival.embedded_database import template_path
from tests.conftest import ARCHIVE_TASKS, AUDIT, BACKUPS, SPONSOR, log_files, run_cli
from tests.support.s3server import list_keys


@pytest.fixture
def fresh_home(tmp_path):
    """A HOME (and so a PREFECT_HOME) that no Prefect has used, as on a new CI runner."""
    home = tmp_path / "home"
    home.mkdir()
    return {"HOME": str(home), "PREFECT_HOME": str(home / ".prefect")}


@pytest.fixture
def busy_core():
    """Another process keeping one core busy for as long as the test runs."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield
    spinner.kill()
    spinner.wait()


def _one_log(directory: Path) -> dict:
    files = log_files(directory)
    assert len(files) == 1, files
    return json.loads(files[0].read_text())


def test_the_disabled_run_without_a_server_starts_no_engine(s3, s3_proxy, tmp_path, fresh_home):
    outputs = tmp_path / "github_output"
    done = run_cli("run", "--sponsor", "titan", env={**fresh_home, "GITHUB_OUTPUT": str(outputs)})

    assert done.returncode == 0, done.stderr
    assert "ℹ️  S3 BACKUP ARCHIVAL NOT YET ENABLED" in done.stdout
    assert f"     - {BACKUPS}\n     - {AUDIT}\n" in done.stdout
    assert "ℹ️  S3 audit log archival not yet enabled - log saved locally only" in done.stdout
    assert outputs.read_text() == "backup_location=not-configured\nbackup_size=0\n"
    log = _one_log(tmp_path / "logs" / SPONSOR)
    assert (log["status"], log["flag_source"], log["s3_archival_enabled"]) == ("skipped", "default", False)
    assert f"Local log: {log_files(tmp_path / 'logs' / SPONSOR)[0]}" in done.stdout
    assert not (Path(fresh_home["PREFECT_HOME"]) / "prefect.db").exists(), "a Prefect engine was started"
    assert s3_proxy.requests == []
    assert "Traceback" not in done.stdout + done.stderr


def test_the_enabled_run_without_a_server_starts_every_time_on_a_busy_machine(
    s3, seeded_db, tmp_path, fresh_home, busy_core
):
    """Two runs in a row from a fresh HOME while another process keeps a core busy: both archive. The
    first starts the new home's Prefect database, the second starts on it (every later run). The
    first's API is a fork of the command (hht_archival/forked_server.py), the second's a new
    interpreter, as where the command has started threads before its API.

    That database is a copy of the one Prefect migrated for this version
    (hht_archival/embedded_database.py), never the template itself, and current:
    Prefect's own `prefect server database upgrade` leaves its schema and revision
    exactly as they were."""
    env = {**fresh_home, "DATABASE_URL": seeded_db, "ENABLE_S3_BACKUP_ARCHIVAL": "true"}
    for attempt in range(2):
        log_dir = tmp_path / f"logs-{attempt}"
        fork = {"ARCHIVAL_PREFECT_API_FORK": "on" if attempt == 0 else "off"}
        done = run_cli(
            "run", "--sponsor", "titan", "--log-dir", str(log_dir), env={**env, **fork}, timeout=300
        )

        assert done.returncode == 0, done.stdout + done.stderr
        assert "Traceback" not in done.stdout + done.stderr
        log = _one_log(log_dir / SPONSOR)
        assert log["status"] == "archived", log["error"]
        assert log["flow_run_id"]

    assert len([key for key in list_keys(s3, BACKUPS) if key.endswith(".sql.gz")]) == 2
    database = Path(fresh_home["PREFECT_HOME"]) / "prefect.db"
    with sqlite3.connect(database) as conn:
        runs = conn.execute("SELECT name, state_type FROM flow_run").fetchall()
        tasks = conn.execute("SELECT flow_run_id, name, state_type FROM task_run").fetchall()
        ended = conn.execute("SELECT resource_id FROM events WHERE event = 'prefect.flow-run.Completed'")
        ended = sorted(resource.removeprefix("prefect.flow-run.") for (resource,) in ended.fetchall())
    assert runs == [("archive-titan-production", "COMPLETED")] * 2, "the runs did not go through Prefect"
    # Task runs and the runs' events reach the API as events, which its services write down in
    # batches, the last batch as the server stops: all are there once the command has ended, as
    # the UI of a server started on this HOME would show them.
    run_ids = sorted({run_id for run_id, _, _ in tasks})
    assert len(run_ids) == 2
    assert ended == run_ids, "the runs' last events were lost"
    for run_id in run_ids:
        recorded = sorted((name, state) for flow_run_id, name, state in tasks if flow_run_id == run_id)
        assert recorded == sorted((f"{step}-titan-production", "COMPLETED") for step in ARCHIVE_TASKS)

    before = _schema(database)
    assert before["revision"] == _schema(template_path())["revision"]
    upgrade = subprocess.run(
        [str(Path(sys.executable).with_name("prefect")), "server", "database", "upgrade", "-y"],
        env={**os.environ, **fresh_home, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    assert _schema(database) == before
    with sqlite3.connect(template_path()) as template:  # the runs went to the copy
        assert template.execute("SELECT count(*) FROM flow_run").fetchone() == (0,)


_START_AND_STOP = """
import sys
from hht_archival import engine
api = engine.EmbeddedApi(timeout=120)
if sys.argv[1] == "prepared":
    api.prepare()
api.start()
api.wait_until_ready("the test")
print(type(api.process).__name__, api.process.pid, flush=True)
api.stop()
print(api.process.returncode)
"""


@pytest.mark.parametrize(
    "way, fork",
    [("prepared", "on"), ("forked", "on"), ("new interpreter", "off")],
)
def test_each_way_of_starting_the_embedded_api_ends_by_its_stop(tmp_path, fresh_home, way, fork):
    """The API's server ends by the command's SIGTERM, not by the kill 10 s later.

    Each way starts it under held signals (forked_server.signals_deferred); a
    server that kept them held ignored the stop, and only a benchmark's time showed it.
    """
    done = subprocess.run(
        [sys.executable, "-c", _START_AND_STOP, way.split()[0]],
        env={**os.environ, **fresh_home, "ARCHIVAL_PREFECT_API_FORK": fork, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    started, ended = done.stdout.splitlines()
    assert started.split()[0] == ("Popen" if way == "new interpreter" else "ForkedServer")
    # uvicorn shuts down on the SIGTERM, then raises it again for its parent to see (-15); -9 would
    # be the kill that follows a stop ignored for 10 s.
    assert int(ended) == -signal.SIGTERM, f"the server ended with {ended}, not by its stop"
    assert not list(tmp_path.glob("hht-archival-prefect-api-*.log"))


_BUILD = """
from prefect.server.api.server import API_ROUTERS
from hht_archival.server_application import build_application, build_route_tables
application = build_application()
print(len(API_ROUTERS), build_route_tables(application.routes))
"""


def test_the_embedded_apis_routes_are_ready_before_it_serves(fresh_home):
    """Each of Prefect's routers has its table of routes built before any request (server_application.py).

    A FastAPI that renamed what is asked would build none there, and every run would pay for them
    again inside its flow: this fails first, when the lock file brings such a FastAPI.
    """
    done = subprocess.run(
        [sys.executable, "-c", _BUILD],
        env={**os.environ, **fresh_home, "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT_UI_ENABLED": "0"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    routers, built = map(int, done.stdout.split())
    assert routers > 20 and built >= routers, done.stdout
    assert not Path(fresh_home["PREFECT_HOME"], "prefect.db").exists(), "building it touched a database"


_HOLD_BACK = """
import gc, json
usual = gc.get_threshold()
from hht_archival import import_gc
import_gc.hold_back()
held = gc.get_threshold()
import_gc.started()
after, frozen = gc.get_threshold(), gc.get_freeze_count()
print(json.dumps({"usual": usual, "held": held, "after": after, "frozen": frozen}))
"""


def test_start_up_holds_the_garbage_collector_back_only_until_it_is_over():
    """A run's own garbage is collected as Python would; only its imports are spared (import_gc.py)."""
    done = subprocess.run([sys.executable, "-c", _HOLD_BACK], capture_output=True, text=True, check=True)

    seen = json.loads(done.stdout)
    assert seen["held"][0] > seen["usual"][0], seen  # fewer collections while it imports
    assert seen["after"] == seen["usual"], seen
    assert seen["frozen"] > 0, seen  # what it imported is left out of later collections


def _schema(database: Path) -> dict:
    with sqlite3.connect(database) as conn:
        return {
            "revision": conn.execute("SELECT version_num FROM alembic_version").fetchall(),
            "tables": conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall(),
        }


def test_an_embedded_api_that_cannot_start_in_time_is_one_sentence_with_the_fix(
    s3, seeded_db, tmp_path, fresh_home
):
    done = run_cli(
        "run",
        "--sponsor",
        "titan",
        "--enable",
        env={
            **fresh_home,
            "DATABASE_URL": seeded_db,
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "1",
        },
    )

    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("❌")]
    assert errors == [
        "❌ The embedded Prefect API did not start within 1 s for sponsor titan; start a Prefect server "
        "(prefect server start) and set PREFECT_API_URL to it, or allow more time with "
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS."
    ]
    assert "Traceback" not in done.stdout + done.stderr
    assert "backup_location=not-configured\nbackup_size=0\n" in done.stdout
    log = _one_log(tmp_path / "logs" / SPONSOR)
    assert (log["status"], log["s3_archival_enabled"], log["flag_source"]) == ("failed", True, "parameter")
    assert log["error"] == errors[0][2:]
    assert list_keys(s3, BACKUPS) == [] and list_keys(s3, AUDIT) == []


def test_a_start_up_limit_that_is_not_whole_seconds_is_one_sentence(tmp_path):
    done = run_cli("run", env={"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "0.5"})

    assert done.returncode == 2
    assert done.stderr == (
        "❌ PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS='0.5' is not a whole number of seconds; "
        "set it to one, such as 120, or unset it.\n"
    )
