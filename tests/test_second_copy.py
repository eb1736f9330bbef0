"""A second copy: every archive at two destinations, two S3 implementations (moto first, s3rver second).

The first copy goes to moto through the suite's fault proxy, the second to
s3rver (npm) through a fault proxy of its own, on its own endpoint and keys,
bound to titan as a user binds it (ARCHIVAL_COPY2_* variables). One dump
feeds both uploads; the outcome says what happened to each.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import boto3
import psycopg
import pytest

from blocks.config import resolve_config
from blocks.second_copy import at_copy
from flows.archive_sponsor import archive_sponsor
from hht_archival.adapters import s3 as s3_adapter
from hht_archival.evidence.report import build
from hht_archival.restore import restore_backup
from hht_archival.status import build_row
from tests.conftest import AUDIT, BACKUPS, log_files, run_cli
from tests.flowhelpers import get_tags, read_artifact
from tests.support import s3rver as s3rver_support
from tests.support.faultproxy import FaultyS3Proxy, is_put_object

pytestmark = pytest.mark.usefixtures("prefect_harness")
COPY2_BACKUPS = "hht-diary-backups-titan-us-east-1"
COPY2_AUDIT = "hht-diary-audit-logs-titan-us-east-1"
COPY2 = "dr-s3rver"


@pytest.fixture(scope="module")
def copy2_proxy():
    """s3rver behind a fault proxy: the second destination, which tests can take down."""
    missing = s3rver_support.missing_tools()
    if missing:
        pytest.skip(missing)
    with s3rver_support.S3rver() as server, FaultyS3Proxy(server.endpoint) as proxy:
        yield proxy


@pytest.fixture
def two_copies(copy2_proxy, s3, seeded_db, monkeypatch):
    """titan with a second copy on s3rver (empty buckets); returns a client of each destination."""
    copy2_proxy.clear()
    monkeypatch.setenv("DATABASE_URL", seeded_db)
    # A run compares its backup with titan's earlier archives in the session's Prefect events
    # (hht_archival/baseline.py), which other test files on this worker leave behind (a bigger
    # database: "Anomalous"). These tests are about the copies; tests/test_anomaly.py is about that.
    monkeypatch.setenv("ARCHIVAL_ANOMALY_SIZE_FRACTION", "0")
    monkeypatch.setenv("ARCHIVAL_ANOMALY_ROW_DROP", "1")
    for name, value in {
        "ARCHIVAL_COPY2_NAME": COPY2,
        "ARCHIVAL_COPY2_REGION": "us-east-1",
        "ARCHIVAL_COPY2_ENDPOINT_URL": copy2_proxy.endpoint,
        "ARCHIVAL_COPY2_BACKUPS_BUCKET": COPY2_BACKUPS,
        "ARCHIVAL_COPY2_AUDIT_LOGS_BUCKET": COPY2_AUDIT,
        "ARCHIVAL_COPY2_AWS_ACCESS_KEY_ID": s3rver_support.ACCESS_KEY,
        "ARCHIVAL_COPY2_AWS_SECRET_ACCESS_KEY": s3rver_support.SECRET_KEY,
    }.items():
        monkeypatch.setenv(name, value)
    second = boto3.client(
        "s3",
        endpoint_url=copy2_proxy.endpoint,
        region_name="us-east-1",
        aws_access_key_id=s3rver_support.ACCESS_KEY,
        aws_secret_access_key=s3rver_support.SECRET_KEY,
    )
    existing = {b["Name"] for b in second.list_buckets().get("Buckets", [])}
    for bucket in (COPY2_BACKUPS, COPY2_AUDIT):
        if bucket in existing:
            for obj in second.list_objects_v2(Bucket=bucket).get("Contents", []):
                second.delete_object(Bucket=bucket, Key=obj["Key"])
        else:
            second.create_bucket(Bucket=bucket)
    return s3, second


def _run():
    state = archive_sponsor(return_state=True, sponsor="titan", enabled=True)
    try:
        return state, state.result()
    except Exception as exc:
        return state, exc


def _key(location: str) -> str:
    return location.split("/", 3)[3]


def _sha256(client, bucket: str, key: str) -> str:
    return hashlib.sha256(client.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()


def _keys(client, bucket: str, prefix: str = "backups/") -> list[str]:
    return [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


def test_both_copies_land_alike_and_the_second_restores_on_its_own(two_copies, empty_db, seeded_db, tmp_path):
    first, second = two_copies
    state, log = _run()
    assert state.name == "Completed" and log["status"] == "archived" and log["degraded"] is None, log
    copy2 = log["second_copy"]
    assert copy2["status"] == "archived" and copy2["name"] == COPY2, copy2
    key = _key(log["backup_location"])
    assert copy2["backup_location"] == f"s3://{COPY2_BACKUPS}/{key}"
    # The same bytes at both, as recorded, with the same tags (s3rver dropped them at the PUT: set again).
    assert _sha256(first, BACKUPS, key) == _sha256(second, COPY2_BACKUPS, key) == log["backup_sha256"]
    tags = get_tags(second, COPY2_BACKUPS, key)
    assert tags["sha256"] == log["backup_sha256"] and tags["data-class"] == "database-backup"
    assert _keys(second, COPY2_BACKUPS) == sorted([key, _key(copy2["roles_location"])])
    # Its log is in its own audit bucket, saying where this copy is; the first log names it.
    own_log = second.get_object(Bucket=COPY2_AUDIT, Key=_key(copy2["log_location"]))["Body"].read()
    assert b'"copy_name": "dr-s3rver"' in own_log and COPY2_BACKUPS.encode() in own_log
    assert log["log_location"].startswith(f"s3://{AUDIT}/")
    config = resolve_config(sponsor="titan", environment="production")
    assert build_row(config, True, None).copies == f"2 ({COPY2}: the same backup)"
    shown = read_artifact("backup-titan-production", state.state_details.flow_run_id).data
    assert f"**Second copy ({COPY2}):** `{copy2['backup_location']}`" in shown, shown

    # Restored from the second destination alone, it holds what the database holds.
    config = at_copy(config, COPY2)
    work = tmp_path / "restore"
    work.mkdir()
    done = restore_backup(s3_adapter.client_for(config), config, "latest", empty_db, work)
    assert done.sha256 == log["backup_sha256"]
    query = "SELECT count(*) FROM diary_entries"
    with psycopg.connect(seeded_db) as source, psycopg.connect(empty_db) as restored:
        assert restored.execute(query).fetchone() == source.execute(query).fetchone()


def test_second_destination_down_archives_degraded_and_alerts(two_copies, copy2_proxy, tmp_path):
    from prefect.variables import Variable

    first, second = two_copies
    Variable.set("hht-alerts-archive-titan-production", {"open": {}}, overwrite=True)  # alerts installed
    copy2_proxy.fail(lambda method, path, query: True, status=503, code="ServiceUnavailable", times=None)

    state, log = _run()

    assert state.name == "Degraded" and log["status"] == "archived", (state, log)
    assert COPY2 in log["degraded"] and "first copy is archived and intact" in log["degraded"]
    assert log["second_copy"]["status"] == "failed" and log["second_copy"]["backup_location"] is None
    key = _key(log["backup_location"])
    assert _sha256(first, BACKUPS, key) == log["backup_sha256"]  # the first copy whole, as recorded
    copy2_proxy.clear()
    assert _keys(second, COPY2_BACKUPS) == [] and _keys(second, COPY2_AUDIT, "") == []
    [local] = log_files(tmp_path / "logs" / "titan")
    assert '"degraded": "The second copy dr-s3rver' in local.read_text()
    ledger = Variable.get("hht-alerts-archive-titan-production")
    assert COPY2 in ledger["open"]["degraded"]["detail"], ledger
    # status says the second copy is behind; the evidence report names the degraded run and the copy.
    config = resolve_config(sponsor="titan", environment="production")
    row = build_row(config, True, None)
    assert row.copies == f"2 ({COPY2}: none yet)" and row.attention
    today = datetime.now(UTC).date()
    facts, page = build(s3_adapter.client_for(config), config, today, today)
    assert facts["summary"]["degraded_runs"] == 1 and facts["second_copy"]["missing"] == [key], facts
    assert f"Second copy: {COPY2}" in page.decode()


def test_first_destination_down_fails_with_nothing_at_either_final_key(two_copies, s3_proxy, tmp_path):
    first, second = two_copies
    s3_proxy.fail(
        lambda method, path, query: is_put_object(method, path, query) and "/backups/" in path, times=None
    )

    state, failure = _run()

    assert state.is_failed() and "upload to s3://" in str(failure), failure
    assert _keys(first, BACKUPS) == [] and _keys(second, COPY2_BACKUPS) == []
    [local] = log_files(tmp_path / "logs" / "titan")
    assert '"status": "failed"' in local.read_text()


def test_verify_copies_names_the_copy_that_was_changed(two_copies):
    """The one CLI test: what a user sees of both copies, and of one corrupted on the second side."""
    first, second = two_copies
    _, log = _run()
    key = _key(log["backup_location"])

    agree = run_cli("verify", "--copies", "--sponsor", "titan", "--environment", "production")
    assert agree.returncode == 0, agree.stdout + agree.stderr
    assert "1 backup(s) compared" in agree.stdout and "identical" in agree.stdout

    tags = second.get_object_tagging(Bucket=COPY2_BACKUPS, Key=key)["TagSet"]
    second.put_object(Bucket=COPY2_BACKUPS, Key=key, Body=b"not the backup")
    second.put_object_tagging(Bucket=COPY2_BACKUPS, Key=key, Tagging={"TagSet": tags})
    differ = run_cli("verify", "--copies", "--sponsor", "titan", "--environment", "production")

    assert differ.returncode == 1, differ.stdout + differ.stderr
    assert f"copy {COPY2}" in differ.stdout and key in differ.stdout and "Traceback" not in differ.stderr
    listed = run_cli("list", "--copy", COPY2, "--sponsor", "titan")
    assert listed.returncode == 0 and f"s3://{COPY2_BACKUPS}" in listed.stdout, listed.stderr
