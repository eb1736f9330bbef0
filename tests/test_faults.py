"""The fault matrix: what a run does when PostgreSQL, pg_dump or S3 break under it.

Each test breaks one thing for real, at the process or the network level:
pg_dump is killed with SIGKILL, the server ends pg_dump's connection, the S3
proxy on loopback resets a connection mid-part, answers 503 SlowDown for a
burst, or S3 is not there at all. Each asserts what a user checks afterwards:
the sentence, the local log, and what is (and is not) at the final key.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from isal import igzip

from tests.conftest import AUDIT, BACKUPS, SPONSOR, log_files
from tests.flowhelpers import run_flow, task_run_counts
from tests.support.faultproxy import (
    is_abort_multipart,
    is_complete_multipart,
    is_create_multipart,
    is_upload_part,
    upload_part_number,
)
from tests.support.prefectserver import api_request
from tests.support.s3server import list_keys, open_multipart_uploads
from tests.support.tcprelay import TcpRelay

pytestmark = pytest.mark.usefixtures("prefect_harness")

MIB = 1024 * 1024
TRAILER = b"-- PostgreSQL database dump complete"


@pytest.fixture
def large_db(seeded_db, monkeypatch):
    """~40 MB of poorly compressible rows and 1 MiB pipes, so pg_dump is still writing when S3 stalls."""
    with psycopg.connect(seeded_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE attachments (id int PRIMARY KEY, data text)")
        conn.execute(
            "INSERT INTO attachments SELECT g, md5(g::text) || md5((g * 31)::text) || md5((g * 7)::text) "
            "FROM generate_series(1, 400000) AS g"
        )
    monkeypatch.setenv("DATABASE_URL", seeded_db)
    monkeypatch.setenv("ARCHIVAL_PART_SIZE_MIB", "5")
    monkeypatch.setattr("tasks.stream.PIPE_CAPACITY", MIB)
    return seeded_db


def _pg_dump_children() -> list[int]:
    """pg_dump processes started by this test process."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        name, ppid = (
            stat[stat.index("(") + 1 : stat.rindex(")")],
            int(stat[stat.rindex(")") + 2 :].split()[1]),
        )
        if name == "pg_dump" and ppid == os.getpid():
            found.append(int(pid))
    return found


def _when_s3_stalls(s3_proxy, action) -> threading.Thread:
    """Hold the first CreateMultipartUpload for 3 s; meanwhile (pg_dump blocked, mid-dump) run ``action``."""
    s3_proxy.delay(is_create_multipart, seconds=3)

    def watch():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(is_create_multipart(*r) for r in s3_proxy.requests):
                action()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _start_run(sponsor: str, environment: str, env: dict[str, str], output) -> subprocess.Popen:
    """`hht-archival run`, enabled, as a separate process the test can cut off or kill."""
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("hht-archival")), "run", "--sponsor", sponsor, "--enable"]
        + ["--environment", environment],
        env={**os.environ, **env},
        stdout=output,
        stderr=output,
        text=True,
    )


def _count(s3_proxy, predicate) -> int:
    return sum(1 for r in s3_proxy.requests if predicate(*r))


def _only_log(tmp_path: Path) -> dict:
    [path] = log_files(tmp_path / "logs" / SPONSOR)
    return json.loads(path.read_text())


def test_pg_dump_killed_mid_dump_is_never_completed_and_the_retry_archives_cleanly(
    s3, s3_proxy, large_db, tmp_path
):
    killed = []
    watcher = _when_s3_stalls(
        s3_proxy, lambda: [killed.append(pid) or os.kill(pid, signal.SIGKILL) for pid in _pg_dump_children()]
    )

    result, flow_run_id = run_flow(sponsor="titan", enabled=True)
    watcher.join(5)

    assert len(killed) == 1
    assert result["status"] == "archived", result
    assert result["stream_attempts"] == 2  # the killed stream, then a whole new one from pg_dump
    assert task_run_counts(flow_run_id)["dump-titan-production"] == 2
    assert _count(s3_proxy, is_create_multipart) == 2
    assert _count(s3_proxy, is_abort_multipart) == 1  # the killed stream's upload
    assert _count(s3_proxy, is_complete_multipart) == 1
    key = result["backup_location"].split("/", 3)[3]
    assert list_keys(s3, BACKUPS) == [result["roles_location"].split("/", 3)[3], key]
    assert open_multipart_uploads(s3, BACKUPS) == []
    body = s3.get_object(Bucket=BACKUPS, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == result["backup_sha256"]
    assert TRAILER in igzip.decompress(body)[-4096:]


def test_the_server_ending_pg_dumps_connection_mid_dump_fails_clearly_and_uploads_nothing(
    s3, s3_proxy, large_db, tmp_path, monkeypatch
):
    monkeypatch.setenv("ARCHIVAL_TASK_RETRIES", "0")

    def terminate_pg_dumps_backend():  # what a restart or failover does to pg_dump's session
        with psycopg.connect(large_db, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pg_dump'"
            )

    watcher = _when_s3_stalls(s3_proxy, terminate_pg_dumps_backend)
    failure, _ = run_flow(sponsor="titan", enabled=True)
    watcher.join(5)

    assert str(failure).startswith(
        "pg_dump could not reach the database for sponsor titan: check that the server in DATABASE_URL "
        "is running and reachable ("
    )
    assert list_keys(s3, BACKUPS) == []
    assert open_multipart_uploads(s3, BACKUPS) == []
    log = _only_log(tmp_path)
    assert log["status"] == "failed" and log["error"] == str(failure)
    assert log["backup_location"] == "not-configured"


def test_a_connection_reset_mid_part_resends_that_part_and_the_object_is_whole(
    s3, s3_proxy, bulky_db, tmp_path, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", bulky_db)
    monkeypatch.setenv("ARCHIVAL_PART_SIZE_MIB", "5")
    s3_proxy.reset(upload_part_number(2))

    result, _ = run_flow(sponsor="titan", enabled=True)

    assert result["status"] == "archived"
    assert result["s3_retries"] == 1 and result["stream_attempts"] == 1  # only the part was resent
    assert _count(s3_proxy, is_create_multipart) == 1
    parts = [r[2]["partNumber"] for r in s3_proxy.requests if is_upload_part(*r)]
    assert parts.count("2") == 2
    key = result["backup_location"].split("/", 3)[3]
    body = s3.get_object(Bucket=BACKUPS, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == result["backup_sha256"]


def test_a_burst_of_slowdowns_longer_than_botocores_retries_restarts_the_stream_once(
    s3, s3_proxy, bulky_db, tmp_path, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", bulky_db)
    monkeypatch.setenv("ARCHIVAL_PART_SIZE_MIB", "5")
    # AWS_MAX_ATTEMPTS is 2 in the tests: two 503s exhaust one request, the third hits the next stream.
    # All three on part 1: parts travel two at once, and a burst on any part would land in one stream.
    s3_proxy.fail(upload_part_number(1), status=503, code="SlowDown", times=3)

    result, _ = run_flow(sponsor="titan", enabled=True)

    assert result["status"] == "archived"
    assert result["stream_attempts"] == 2 and result["s3_retries"] == 1
    assert _count(s3_proxy, is_abort_multipart) == 1
    assert list_keys(s3, BACKUPS) == [result[f"{k}_location"].split("/", 3)[3] for k in ("roles", "backup")]
    assert open_multipart_uploads(s3, BACKUPS) == []


def test_s3_unreachable_is_found_before_any_work_and_s3_lost_mid_run_leaves_nothing_partial(
    s3, s3_proxy, seeded_db, tmp_path, monkeypatch
):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens here once the socket is closed
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("DATABASE_URL", seeded_db)

    failure, _ = run_flow(sponsor="titan", enabled=True)

    assert str(failure).startswith(
        f"S3 could not be reached for sponsor titan (reading the Object Lock configuration of s3://{BACKUPS}"
    )
    assert str(failure).endswith("check the network and AWS_ENDPOINT_URL.")
    [path] = log_files(tmp_path / "logs" / SPONSOR)
    assert json.loads(path.read_text())["status"] == "failed"
    path.unlink()

    # S3 there for the run's first look, then gone: every later request is cut off unanswered.
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_proxy.endpoint)
    s3_proxy.reset(lambda method, path, query: "object-lock" not in query, times=None)
    failure, _ = run_flow(sponsor="titan", enabled=True)

    assert str(failure).startswith("The connection to S3 was lost for sponsor titan (upload to s3://")
    assert str(failure).endswith(
        "ConnectionClosedError); check the network and AWS_ENDPOINT_URL, then run again."
    )
    log = _only_log(tmp_path)
    assert log["status"] == "failed" and log["log_location"] == "local-only"
    assert log["log_upload_error"].startswith("The connection to S3 was lost for sponsor titan")
    s3_proxy.clear()  # S3 back: nothing was written and no multipart upload was left open
    assert list_keys(s3, BACKUPS) == [] and list_keys(s3, AUDIT) == []
    assert open_multipart_uploads(s3, BACKUPS) == []


def _run_cut_off_from_prefect(prefect_server, moto_server, database_url: str, cut) -> tuple:
    """Run the CLI for a sponsor of its own, talking to Prefect through a relay that ``cut`` cuts.

    A sponsor of its own, with buckets of its own, so what it leaves is its alone.
    """
    sponsor = f"cutoff-{uuid.uuid4().hex[:8]}"
    backups = f"hht-diary-backups-{sponsor}-eu-west-1"
    moto_server.make_buckets(backups, f"hht-diary-audit-logs-{sponsor}-eu-west-1")
    relay = TcpRelay("127.0.0.1", prefect_server.port)
    env = {
        **prefect_server.env(),
        "PREFECT_API_URL": f"http://127.0.0.1:{relay.port}/api",
        "SPONSOR": sponsor,  # the unprefixed settings are this sponsor's
        "DATABASE_URL": database_url,
        "ARCHIVAL_PART_SIZE_MIB": "5",
        # One retry (after ~2 s): rides out a busy server's 503, and each call to the dead API
        # gives up in seconds, not after Prefect's default minutes.
        "PREFECT_CLIENT_MAX_RETRIES": "1",
    }
    cli = _start_run(sponsor, "production", env, output=subprocess.PIPE)
    try:
        cut(relay)
        stdout, stderr = cli.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        cli.kill()
        stdout, stderr = cli.communicate()
        pytest.fail(f"the run hung without its Prefect API; its last words:\n{stdout}{stderr[-3000:]}")
    finally:
        relay.cut()
    assert cli.returncode == 1, f"exit {cli.returncode}\n{stdout}{stderr[-3000:]}"
    errors = [line for line in stderr.splitlines() if line.startswith("❌")]
    assert len(errors) == 1, stderr[-3000:]
    assert errors[0].startswith(f"❌ The Prefect API stopped answering during the run for sponsor {sponsor}")
    for noise in ("Traceback", "Error logging to API", "EventsWorker"):  # Prefect's machinery stays quiet
        assert noise not in stdout + stderr, stderr[-3000:]
    return sponsor, backups, relay


def test_the_prefect_api_going_away_before_the_dump_starts_stops_the_run_with_one_sentence(
    s3, moto_server, seeded_db, tmp_path, prefect_server
):
    """The server vanishes as the dump task asks it for its concurrency slot: that task never runs.

    Before, compress and upload then waited for bytes that never came, for ever. The dump
    asks for a slot where an operator capped pg_dumps (docs/prefect-server.md: the hht-archival-dump limit).
    """
    limits = f"{prefect_server.api_url}/v2/concurrency_limits/"
    api_request("POST", limits, json={"name": "tag:hht-archival-dump", "limit": 50})
    try:
        sponsor, backups, relay = _run_cut_off_from_prefect(
            prefect_server, moto_server, seeded_db, lambda relay: relay.cut_on(b"tag:hht-archival-dump")
        )
    finally:
        api_request("DELETE", f"{limits}tag:hht-archival-dump")

    assert relay.tripped.is_set()  # the cut came where meant: at the dump's slot request
    [log] = [json.loads(p.read_text()) for p in log_files(tmp_path / "logs" / sponsor)]
    assert log["status"] == "failed" and log["sponsor"] == sponsor
    assert "The Prefect API stopped answering" in log["error"]
    assert list_keys(s3, backups) == []
    assert open_multipart_uploads(s3, backups) == []
    audit = f"hht-diary-audit-logs-{sponsor}-eu-west-1"
    [uploaded] = [k for k in list_keys(s3, audit) if "/deployment-" in k]  # S3 was fine: the log is there
    body = s3.get_object(Bucket=f"hht-diary-audit-logs-{sponsor}-eu-west-1", Key=uploaded)["Body"].read()
    assert json.loads(body)["status"] == "failed"


def test_the_prefect_api_going_away_mid_upload_leaves_a_whole_backup_or_none_and_a_local_log(
    s3, s3_proxy, moto_server, bulky_db, tmp_path, prefect_server
):
    """A worker losing its server mid-upload: the stream goes on; Prefect's bookkeeping fails after."""
    s3_proxy.delay(is_create_multipart, seconds=3)

    def cut_when_uploading(relay: TcpRelay) -> None:
        deadline = time.monotonic() + 120
        while not any(is_create_multipart(*r) for r in s3_proxy.requests) and time.monotonic() < deadline:
            time.sleep(0.05)
        relay.cut()

    sponsor, backups, _ = _run_cut_off_from_prefect(prefect_server, moto_server, bulky_db, cut_when_uploading)

    logs = [json.loads(p.read_text()) for p in log_files(tmp_path / "logs" / sponsor)]
    assert len(logs) == 1, logs  # one run, one record: never a second, contradicting log
    assert open_multipart_uploads(s3, backups) == []
    backup_keys = [k for k in list_keys(s3, backups) if not k.endswith(".roles.json")]
    if logs[0]["status"] == "archived":
        assert logs[0]["backup_location"] == f"s3://{backups}/{backup_keys[0]}"
    for key in backup_keys:  # whatever reached a final key is a whole, recorded backup
        body = s3.get_object(Bucket=backups, Key=key)["Body"].read()
        assert TRAILER in igzip.decompress(body)[-4096:]
        assert any(log.get("backup_sha256") == hashlib.sha256(body).hexdigest() for log in logs)
    outcomes = [(log["status"], log["error"]) for log in logs]
    print(f"\nlocal logs: {outcomes}; backups: {list_keys(s3, backups)}")


def test_a_run_killed_during_upload_leaves_nothing_at_a_final_key_and_the_next_run_archives_cleanly(
    s3, s3_proxy, bulky_db, tmp_path, prefect_server, monkeypatch
):
    s3_proxy.delay(is_upload_part, seconds=3)  # the first part is in flight when the process dies
    env = {**prefect_server.env(), "DATABASE_URL": bulky_db, "ARCHIVAL_PART_SIZE_MIB": "5"}
    cli = _start_run("titan", "production", env, output=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not any(is_upload_part(*r) for r in s3_proxy.requests) and time.monotonic() < deadline:
        time.sleep(0.05)
    cli.kill()  # SIGKILL: no cleanup of any kind runs
    cli.wait()

    seen = [(m, p.rsplit("/", 1)[-1], sorted(q)) for m, p, q in s3_proxy.requests]
    assert list_keys(s3, BACKUPS) == [], seen  # the killed run's object never appeared
    abandoned = open_multipart_uploads(s3, BACKUPS)
    assert len(abandoned) == 1, seen  # left to the AbortIncompleteMultipartUpload rule (doctor checks it)

    monkeypatch.setenv("DATABASE_URL", bulky_db)
    monkeypatch.setenv("ARCHIVAL_PART_SIZE_MIB", "5")
    # The killed run's archive lock went with its database session: the repeat may not wait for it.
    monkeypatch.setenv("ARCHIVAL_LOCK_TIMEOUT_SECONDS", "5")
    result, _ = run_flow(sponsor="titan", environment="production", enabled=True)

    assert result["status"] == "archived"
    key = result["backup_location"].split("/", 3)[3]
    assert list_keys(s3, BACKUPS) == [result["roles_location"].split("/", 3)[3], key]
    # Even at the killed run's key (the same second, were the repeat that quick), the abandoned
    # upload's parts never become part of the object.
    body = s3.get_object(Bucket=BACKUPS, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == result["backup_sha256"]


@pytest.fixture
def full_log_dir(tmp_path):
    """A 64 KiB tmpfs, filled to the last byte (mounting needs root; elsewhere the test is skipped)."""
    mount = tmp_path / "full"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a small tmpfs needs root: {done.stderr.decode().strip()}")
    try:
        with (mount / "filler").open("wb", buffering=0) as filler, contextlib.suppress(OSError):
            while True:
                filler.write(b"\0" * 4096)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_log_directory_fails_with_one_sentence_after_the_backup_and_log_reached_s3(
    s3, seeded_db, full_log_dir, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", seeded_db)
    failure, _ = run_flow(sponsor="titan", enabled=True, log_dir=str(full_log_dir))

    assert str(failure).startswith(
        f"The local deployment log could not be written to {full_log_dir / 'titan'} for sponsor titan "
        "(No space left on device); free space there or set ARCHIVAL_LOG_DIR to a writable directory "
        "(the log reached s3://hht-diary-audit-logs-titan-eu-west-1/deployments/"
    )
    assert len(list_keys(s3, BACKUPS)) == 2  # the backup and its roles object
    [log_key] = [k for k in list_keys(s3, AUDIT) if "/deployment-" in k]  # not the chain head
    assert json.loads(s3.get_object(Bucket=AUDIT, Key=log_key)["Body"].read())["status"] == "archived"
    files = [p.relative_to(full_log_dir) for p in full_log_dir.rglob("*") if p.is_file()]
    assert files == [Path("filler")]  # no half-written file left
