"""Database passwords, on a throwaway scram-sha-256 cluster: accepted, refused clearly, never shown.

The machine's own PostgreSQL trusts every local connection, so it cannot tell
a right password from a wrong one; this cluster can.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import httpx
import psycopg

from tests.conftest import BACKUPS, SCRAM_PASSWORD, log_files, run_cli
from tests.support.s3server import list_keys

PASSWORD = SCRAM_PASSWORD


def _watch_pg_dump(found: dict, stop: threading.Event) -> None:
    """Record the argv and environment of every pg_dump process seen in /proc."""
    while not stop.is_set():
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes()
                if argv.split(b"\0", 1)[0].endswith(b"pg_dump"):
                    found[pid] = (argv, Path(f"/proc/{pid}/environ").read_bytes())
            except OSError:
                continue
        time.sleep(0.01)


def test_the_password_reaches_pg_dump_but_never_argv_output_logs_or_s3(
    s3, scram_cluster, tmp_path, prefect_server
):
    url = scram_cluster.url("diary", password=PASSWORD)
    found: dict = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_pg_dump, args=(found, stop), daemon=True)
    # Hold a lock pg_dump must wait for, so its process is certainly alive while we look at it.
    blocker = psycopg.connect(url)
    blocker.execute("LOCK TABLE diary_entries IN ACCESS EXCLUSIVE MODE")
    watcher.start()

    def release_when_seen():
        deadline = time.monotonic() + 120
        while not found and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        blocker.rollback()

    releaser = threading.Thread(target=release_when_seen, daemon=True)
    releaser.start()
    try:
        done = run_cli(
            "run",
            "--sponsor",
            "titan",
            "--enable",
            env={**prefect_server.env(), "DATABASE_URL": url, "PGPASSWORD": PASSWORD},
        )
    finally:
        releaser.join(5)
        stop.set()
        watcher.join(5)
        blocker.close()

    assert done.returncode == 0, done.stderr
    assert found, "pg_dump was never seen running"
    for argv, environ in found.values():
        assert PASSWORD.encode() not in argv
        assert PASSWORD.encode() not in environ  # PGPASSWORD is removed; a 0600 passfile is used
    log_text = log_files(tmp_path / "logs")[0].read_text()
    log = json.loads(log_text)
    assert log["status"] == "archived"
    assert "dbname=diary" in log["database"] and "password=***" in log["database"]
    key = log["backup_location"].split("/", 3)[3]
    head = s3.head_object(Bucket=BACKUPS, Key=key)
    tags = s3.get_object_tagging(Bucket=BACKUPS, Key=key)["TagSet"]
    prefect_logs = httpx.post(f"{prefect_server.api_url}/logs/filter", json={"limit": 200}).text
    for place in (
        done.stdout,
        done.stderr,
        log_text,
        json.dumps(head["Metadata"]),
        json.dumps(tags),
        prefect_logs,
    ):
        for fragment in (PASSWORD, "Hunter2"):
            assert fragment not in place


def test_a_wrong_password_fails_at_once_with_one_sentence(s3, scram_cluster, tmp_path, prefect_server):
    url = scram_cluster.url("diary", password="not-the-password")
    done = run_cli("run", "--sponsor", "titan", "--enable", env={**prefect_server.env(), "DATABASE_URL": url})

    assert done.returncode == 1
    error = [line for line in done.stderr.splitlines() if line.startswith("❌")]
    assert error and error[0].startswith(
        "❌ pg_dump failed for sponsor titan: the database rejected the credentials in DATABASE_URL; "
        "check the user and password"
    )
    assert "not-the-password" not in done.stdout + done.stderr
    log = json.loads(log_files(tmp_path / "logs")[0].read_text())
    assert log["status"] == "failed" and log["error"] == error[0].removeprefix("❌ ")
    assert list_keys(s3, BACKUPS) == []
    tasks = httpx.post(
        f"{prefect_server.api_url}/task_runs/filter",
        json={"flow_runs": {"id": {"any_": [log["flow_run_id"]]}}},
    ).json()
    assert {t["name"]: t["run_count"] for t in tasks}["dump-titan-production"] == 1  # not retried
