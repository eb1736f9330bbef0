"""Stopping a run as users do: Ctrl-C at a terminal, SIGTERM from a supervisor, a second Ctrl-C.

Each test starts `hht-archival run --enable` with no Prefect server configured
(the README's path) in a process group of its own, as a terminal runs a
foreground command, waits for the phase it means (the embedded API starting,
another run holding the lock, the upload under way, a retry's back-off), sends
the signal to the whole group as a terminal does, and checks what a user
would: the exit status, the one sentence, the local log, nothing at a final S3
key and no open multipart upload, no pg_dump session left, the flow run
Cancelled, and that the next run of the sponsor is not held up. Seconds are
printed, never asserted.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from hht_archival.adapters.pg_lock import Holder, archive_lock
from tests.conftest import BACKUPS, SPONSOR, log_files, run_cli
from tests.support.faultproxy import is_abort_multipart, is_upload_part, upload_part_number
from tests.support.processes import left_behind
from tests.support.s3server import list_keys, open_multipart_uploads

STOPPED = (
    "❌ The run for sponsor titan (production) was stopped by {signal} before it finished; nothing was left "
    "at a final S3 key; run it again when ready."
)


class Run:
    """`hht-archival run --enable` in a process group of its own; its lines kept with their times."""

    def __init__(self, env: dict[str, str]):
        self.started = time.monotonic()
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("hht-archival")), "run", "--sponsor", SPONSOR, "--enable"],
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.signalled = 0.0

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_until(self, ready, what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"never saw {what}; the run said:\n" + "\n".join(self.lines[-40:]))
            time.sleep(0.05)

    def saw(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def interrupt(self, signum: int = signal.SIGINT) -> None:
        """What a terminal does on Ctrl-C: the signal to every process of the foreground group."""
        self.signalled = time.monotonic()
        os.killpg(self.proc.pid, signum)

    def finish(self, timeout: float = 60) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail("still running a minute after the signal:\n" + "\n".join(self.lines[-40:]))
        self._reader.join(5)
        print(f"\nexit {code} {time.monotonic() - self.signalled:.1f} s after the signal")
        return code

    def errors(self) -> list[str]:
        return [line for line in self.lines if line.startswith("❌")]


def _the_log(tmp_path: Path) -> dict:
    [path] = log_files(tmp_path / "logs" / SPONSOR)
    return json.loads(path.read_text())


def _dump_sessions(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        database = conn.info.dbname
        rows = conn.execute(
            "SELECT application_name FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return [name for (name,) in rows]


def _flow_run_state(prefect_home: Path, flow_run_id: str) -> str:
    """The flow run's state as the embedded API recorded it (its SQLite database under PREFECT_HOME)."""
    with sqlite3.connect(prefect_home / "prefect.db") as db:
        [(state,)] = db.execute("SELECT state_type FROM flow_run WHERE id = ?", (flow_run_id,)).fetchall()
    return state


@pytest.fixture
def own_home(tmp_path):
    """A PREFECT_HOME no Prefect has used: its embedded API migrates a new database first."""
    home = tmp_path / "prefect-home"
    return {"PREFECT_HOME": str(home)}


def _default_home() -> Path:
    """Where the runs below keep the embedded API's database: the user's own, migrated long since."""
    return Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect")


def test_ctrl_c_while_the_embedded_api_starts_stops_at_once_with_a_log(s3, seeded_db, tmp_path, own_home):
    run = Run({**own_home, "DATABASE_URL": seeded_db})
    database = Path(own_home["PREFECT_HOME"]) / "prefect.db"
    run.wait_until(database.exists, "the embedded API creating its database")  # migrating it now
    run.interrupt()

    assert run.finish() == 130
    assert run.errors() == [STOPPED.format(signal="SIGINT")]
    log = _the_log(tmp_path)
    assert (log["status"], log["error"]) == ("failed", STOPPED.format(signal="SIGINT")[2:])
    assert list_keys(s3, BACKUPS) == []
    time.sleep(1)  # the API's own shutdown, after the command's exit
    assert left_behind(Path(own_home["PREFECT_HOME"])) == []
    assert "Traceback" not in "\n".join(run.lines)


def test_ctrl_c_while_the_database_is_checked_stops_the_server_forked_meanwhile(s3, tmp_path, own_home):
    """A run asked to archive forks its API's server before the checks, to import meanwhile
    (hht_archival/engine.py prepare_prefect_api); a Ctrl-C during a slow check of the database (a
    server that never answers) ends the command and that server, which made no database."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # never accepted: libpq's startup packet is never answered
        port = silent.getsockname()[1]
        run = Run({**own_home, "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/postgres"})
        home = Path(own_home["PREFECT_HOME"])
        run.wait_until(lambda: len(left_behind(home)) >= 2, "the server forked beside the command", 60)
        run.interrupt()

        assert run.finish() == 130
    assert run.errors() == [STOPPED.format(signal="SIGINT")]
    assert _the_log(tmp_path)["status"] == "failed"
    assert left_behind(home) == []
    assert not (home / "prefect.db").exists(), "the prepared server made a database"
    assert "Traceback" not in "\n".join(run.lines)


_CTRL_C_AS_IT_ENDS = """
import os, signal, threading
from hht_archival import engine
api = engine.EmbeddedApi(timeout=120)
api.start()
api.wait_until_ready("the test")
server = api.process.pid
os.kill(server, signal.SIGSTOP)  # it cannot finish its stop until continued
threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()  # a Ctrl-C while the command waits
threading.Timer(1.5, os.kill, (server, signal.SIGCONT)).start()
api.stop()
print(api.process.returncode)
"""


def test_ctrl_c_as_the_command_ends_waits_for_its_api_to_stop_without_a_traceback(tmp_path, own_home):
    """The embedded API stops as the command ends, after the run's outcome is printed: a Ctrl-C then
    (the run looked finished) raised a traceback out of the exit hook and left the server to end
    alone. Now the command waits on; the server ends by its own stop (its last events written)."""
    done = subprocess.run(
        [sys.executable, "-c", _CTRL_C_AS_IT_ENDS],
        env={**os.environ, **own_home, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr, done.stderr
    assert int(done.stdout) == -signal.SIGTERM, "the server was killed, not stopped"
    assert left_behind(Path(own_home["PREFECT_HOME"])) == []


def test_ctrl_c_mid_upload_aborts_it_ends_cancelled_and_the_next_run_starts_at_once(
    s3, s3_proxy, bulky_db, tmp_path
):
    env = {"DATABASE_URL": bulky_db, "ARCHIVAL_PART_SIZE_MIB": "5"}
    s3_proxy.delay(is_upload_part, seconds=3)  # the first part is in flight when Ctrl-C comes
    run = Run(env)
    run.wait_until(lambda: any(is_upload_part(*r) for r in s3_proxy.requests), "the first part sent", 180)
    run.interrupt()

    assert run.finish() == 130
    assert run.errors() == [STOPPED.format(signal="SIGINT")]
    assert run.saw("Stopping (SIGINT): ending pg_dump and any upload, then writing the local log")
    assert list_keys(s3, BACKUPS) == []
    assert open_multipart_uploads(s3, BACKUPS) == []  # aborted, not left to the lifecycle rule
    assert _dump_sessions(bulky_db) == []  # pg_dump and its snapshot's session are gone
    log = _the_log(tmp_path)
    assert log["status"] == "failed" and "stopped by SIGINT" in log["error"]
    assert _flow_run_state(_default_home(), log["flow_run_id"]) == "CANCELLED"

    # The next run of the sponsor is not held up by the stopped one: it may not wait for the lock.
    s3_proxy.clear()
    again = run_cli(
        "run", "--sponsor", SPONSOR, "--enable",
        env={**env, "ARCHIVAL_LOCK_TIMEOUT_SECONDS": "5"},
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Waiting for the archive lock" not in again.stdout
    assert len([k for k in list_keys(s3, BACKUPS) if k.endswith(".sql.gz")]) == 1


def test_a_run_waiting_for_the_lock_says_for_whom_and_sigterm_stops_it(s3, seeded_db, tmp_path):
    holder = Holder(run="archive-titan-production", run_id="7b3e", host="worker-a", pid="4242", started="T0")
    with archive_lock(
        seeded_db, SPONSOR, "production", wait_seconds=0, lease_seconds=60, holder=holder, say=print
    ):
        run = Run({"DATABASE_URL": seeded_db})
        run.wait_until(lambda: run.saw("Waiting for the archive lock"), "the run saying it waits")
        time.sleep(0.5)
        run.interrupt(signal.SIGTERM)
        code = run.finish()

    assert code == 143
    [waiting] = [line for line in run.lines if "Waiting for the archive lock" in line]
    assert waiting.startswith(
        "Waiting for the archive lock of sponsor titan (production): held by run archive-titan-production "
        "(7b3e) on host worker-a (pid 4242), started at T0; waited 0 s of 1800 s."
    )
    assert run.errors() == [STOPPED.format(signal="SIGTERM")]
    assert _the_log(tmp_path)["error"] == STOPPED.format(signal="SIGTERM")[2:]
    assert list_keys(s3, BACKUPS) == []


def test_ctrl_c_in_a_retrys_back_off_does_not_wait_for_it(s3, s3_proxy, bulky_db, tmp_path):
    env = {
        "DATABASE_URL": bulky_db,
        "ARCHIVAL_PART_SIZE_MIB": "5",
        "ARCHIVAL_RETRY_DELAY_SECONDS": "300",  # the stream's retry is due in five minutes
    }
    # AWS_MAX_ATTEMPTS is 2 in the tests: two 503s exhaust a part's request and fail the stream.
    s3_proxy.fail(upload_part_number(1), status=503, code="SlowDown", times=2)
    run = Run(env)
    run.wait_until(lambda: any(is_abort_multipart(*r) for r in s3_proxy.requests), "the first stream fail")
    time.sleep(2)  # the stream task is now AwaitingRetry
    run.interrupt()

    assert run.finish() == 130
    assert run.errors() == [STOPPED.format(signal="SIGINT")]
    assert list_keys(s3, BACKUPS) == [] and open_multipart_uploads(s3, BACKUPS) == []
    assert sum(1 for r in s3_proxy.requests if is_abort_multipart(*r)) == 1  # no second stream began


def test_a_second_ctrl_c_exits_at_once_and_still_nothing_is_at_a_final_key(s3, s3_proxy, bulky_db, tmp_path):
    s3_proxy.delay(is_upload_part, seconds=10)
    run = Run({"DATABASE_URL": bulky_db, "ARCHIVAL_PART_SIZE_MIB": "5"})
    run.wait_until(lambda: any(is_upload_part(*r) for r in s3_proxy.requests), "the first part sent", 180)
    run.interrupt()
    time.sleep(0.3)
    run.interrupt()

    assert run.finish() == 130
    assert run.saw("Stopped again (SIGINT): exiting now; no backup was completed.")
    assert list_keys(s3, BACKUPS) == []
    log = _the_log(tmp_path)  # the first stop's log, or the one the second left
    assert log["status"] == "failed" and "stopped by SIGINT" in log["error"]
    time.sleep(1)
    assert "pg_dump" not in _dump_sessions(bulky_db)


def test_a_stopped_worker_finds_its_runs_and_not_what_they_started():
    """A worker's runs lead process groups of their own, and so does each run's pg_dump: a worker that
    is stopped sends SIGTERM to each run, which stops its own pg_dump; pg_dump is not a run."""
    from hht_archival.worker_stop import _run_groups

    script = (
        "import subprocess, sys, time\n"
        "child = [sys.executable, '-c', 'import time; time.sleep(60)']\n"
        "subprocess.Popen(child, process_group=0)  # the run's own pg_dump stand-in\n"
        "print('ready', flush=True); time.sleep(60)\n"
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", f"import subprocess, sys, time\n"
         f"run = subprocess.Popen([sys.executable, '-c', {script!r}], process_group=0, stdout=sys.stdout)\n"
         "time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert worker.stdout.readline().strip() == "ready"
        runs = _run_groups(worker.pid)
        assert len(runs) == 1
        [run] = runs
        assert Path(f"/proc/{run}/cmdline").read_bytes().count(b"process_group=0") == 1  # the run itself
    finally:
        for group in _run_groups(worker.pid):
            children = Path(f"/proc/{group}/task/{group}/children").read_text().split()
            for pid in [group, *map(int, children)]:
                os.killpg(pid, signal.SIGKILL)
        worker.kill()
        worker.wait()
