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

import psycopg

from tests.conftest import AUDIT, BACKUPS, SCRAM_PASSWORD, SPONSOR, log_files, run_cli
from tests.support.prefectserver import api_request
from tests.support.s3server import list_keys

PASSWORD = SCRAM_PASSWORD
# Recognisable AWS secrets: moto does not check signatures, so any values sign requests it accepts.
AWS_SECRET = "hhtSECRETkey/0123456789abcdefGHIJKLmnopQRSTuv"
AWS_TOKEN = "hhtSESSIONtoken0123456789+abcdefGHIJKLmnopQRSTuvwxyz=="
COPY2_SECRET = "hhtCOPY2secret/9876543210zyxwvuTSRQPonmlkJIHG"  # the second destination's own key
SECRETS = (PASSWORD, "Hunter2", AWS_SECRET, "hhtSECRETkey", AWS_TOKEN, "hhtSESSIONtoken", COPY2_SECRET)
COPY2_BUCKETS = ("hht-diary-backups-titan-dr", "hht-diary-audit-logs-titan-dr")


def _watch_pg_dump(found: dict, stop: threading.Event, port: int) -> None:
    """Record the argv and environment of every pg_dump process of the server on ``port`` seen in /proc.

    Only that server's: tests in other processes run pg_dump too (doctor's ``pg_dump --version``)."""
    while not stop.is_set():
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes()
                if argv.split(b"\0", 1)[0].endswith(b"pg_dump") and f"port={port}".encode() in argv:
                    found[pid] = (argv, Path(f"/proc/{pid}/environ").read_bytes())
            except OSError:
                continue
        time.sleep(0.01)


def test_no_secret_reaches_argv_pg_dumps_environment_output_logs_artifacts_or_s3(
    s3, moto_server, scram_cluster, tmp_path, prefect_server
):
    url = scram_cluster.url("diary", password=PASSWORD)
    moto_server.make_buckets(*COPY2_BUCKETS)  # a second copy with keys of its own: never shown either
    found: dict = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_pg_dump, args=(found, stop, scram_cluster.port), daemon=True)
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
            env={
                **prefect_server.env(),
                "DATABASE_URL": url,
                "PGPASSWORD": PASSWORD,
                "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
                "AWS_SESSION_TOKEN": AWS_TOKEN,
                "ARCHIVAL_COPY2_BACKUPS_BUCKET": COPY2_BUCKETS[0],
                "ARCHIVAL_COPY2_AUDIT_LOGS_BUCKET": COPY2_BUCKETS[1],
                "ARCHIVAL_COPY2_AWS_ACCESS_KEY_ID": "AKIACOPY2",
                "ARCHIVAL_COPY2_AWS_SECRET_ACCESS_KEY": COPY2_SECRET,
            },
        )
    finally:
        releaser.join(5)
        stop.set()
        watcher.join(5)
        blocker.close()

    assert done.returncode == 0, done.stderr
    assert found, "pg_dump was never seen running"
    for argv, environ in found.values():
        for secret in SECRETS:
            assert secret.encode() not in argv
            assert secret.encode() not in environ  # a 0600 passfile; no AWS variable at all
        assert b"PGPASSFILE=" in environ
    log_text = log_files(tmp_path / "logs" / SPONSOR)[0].read_text()
    log = json.loads(log_text)
    assert log["status"] == "archived" and log["second_copy"]["status"] == "archived", log
    assert "dbname=diary" in log["database"] and "password=***" in log["database"]
    key = log["backup_location"].split("/", 3)[3]
    head = s3.head_object(Bucket=BACKUPS, Key=key)
    tags = s3.get_object_tagging(Bucket=BACKUPS, Key=key)["TagSet"]
    api = prefect_server.api_url
    prefect_logs = api_request("POST", f"{api}/logs/filter", json={"limit": 200}).text
    assert "dump:" in prefect_logs  # the run's own lines are there to be searched
    artifacts = api_request("POST", f"{api}/artifacts/filter", json={}).text
    assert "backup-titan-production" in artifacts
    flow_runs = api_request("POST", f"{api}/flow_runs/filter", json={}).text  # parameters included
    task_runs = api_request("POST", f"{api}/task_runs/filter", json={}).text
    audit_log = s3.get_object(Bucket=AUDIT, Key=log["log_location"].split("/", 3)[3])["Body"].read().decode()
    places = {
        "stdout": done.stdout,
        "stderr": done.stderr,
        "local JSON log": log_text,
        "JSON log in S3": audit_log,
        "S3 metadata": json.dumps(head["Metadata"]),
        "S3 tags": json.dumps(tags),
        "Prefect logs": prefect_logs,
        "Prefect artifacts": artifacts,
        "Prefect flow runs": flow_runs,
        "Prefect task runs": task_runs,
    }
    hits = [(where, secret) for where, text in places.items() for secret in SECRETS if secret in text]
    assert hits == []


def test_a_wrong_password_fails_at_once_with_one_sentence(s3, scram_cluster, tmp_path, prefect_server):
    url = scram_cluster.url("diary", password="not-the-password")
    done = run_cli("run", "--sponsor", "titan", "--enable", env={**prefect_server.env(), "DATABASE_URL": url})

    assert done.returncode == 1
    error = [line for line in done.stderr.splitlines() if line.startswith("❌")]
    assert error and error[0].startswith("❌ The database for sponsor titan could not be used (connecting ")
    assert error[0].endswith(
        'failed: password authentication failed for user "postgres"); check the host, user, password and '
        "database name in DATABASE_URL."
    )
    assert "not-the-password" not in done.stdout + done.stderr
    log = json.loads(log_files(tmp_path / "logs" / SPONSOR)[0].read_text())
    assert log["status"] == "failed" and log["error"] == error[0].removeprefix("❌ ")
    assert list_keys(s3, BACKUPS) == []
    tasks = api_request(
        "POST",
        f"{prefect_server.api_url}/task_runs/filter",
        json={"flow_runs": {"id": {"any_": [log["flow_run_id"]]}}},
    ).json()
    assert "dump-titan-production" not in {t["name"] for t in tasks}  # found before any dump, not retried
