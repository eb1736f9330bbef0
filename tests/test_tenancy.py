"""A sponsor's data stays that sponsor's, from the command line, a flow run's parameters and the nightly.

The machine here is a worker whose environment is callisto's Doppler project
(SPONSOR unset: callisto is the home sponsor, DATABASE_URL is callisto's
database) and which also serves titan. Each test checks what a breach would
leave behind: objects in the other tenant's buckets, the other tenant's rows
in a backup, a request signed with the other tenant's keys.
"""

from __future__ import annotations

import gzip
import json

import psycopg
import pytest

from tests.conftest import AUDIT, BACKUPS, log_files, run_cli
from tests.flowhelpers import run_flow, save_sponsor_block
from tests.support.s3server import DUMMY_KEY, list_keys

CALLISTO_BACKUPS = "hht-diary-backups-callisto-eu-west-1"
CALLISTO_AUDIT = "hht-diary-audit-logs-callisto-eu-west-1"
NOT_BOUND = (
    "No database URL is bound to sponsor titan (DATABASE_URL belongs to sponsor callisto, which SPONSOR "
    "names); archival is enabled, so set TITAN_DATABASE_URL, or name a Secret block in titan's sponsor block."
)


@pytest.fixture
def callisto_db(make_seeded_db):
    """Callisto's database, told apart from titan's by a table only it has."""
    url = make_seeded_db()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE callisto_only (secret text)")
        conn.execute("INSERT INTO callisto_only VALUES ('callisto clinical data')")
    return url


@pytest.fixture
def callistos_worker(monkeypatch, callisto_db):
    monkeypatch.delenv("SPONSOR")
    monkeypatch.setenv("DATABASE_URL", callisto_db)
    return callisto_db


def _backup_sql(s3, log: dict) -> bytes:
    key = log["backup_location"].split("/", 3)[3]
    return gzip.decompress(s3.get_object(Bucket=BACKUPS, Key=key)["Body"].read())


def test_the_command_refuses_titan_with_only_callistos_settings(s3, s3_proxy, tmp_path, callistos_worker):
    done = run_cli("run", "--sponsor", "titan", "--environment", "production", "--enable")

    assert done.returncode == 2, done.stdout + done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("❌")] == [f"❌ {NOT_BOUND}"]
    assert "Traceback" not in done.stdout + done.stderr
    assert s3_proxy.requests == []  # nothing reached titan's buckets, or any
    [log] = [json.loads(p.read_text()) for p in log_files(tmp_path / "logs" / "titan")]
    assert (log["status"], log["error"]) == ("failed", NOT_BOUND)


def test_callistos_flag_does_not_switch_titan_on(s3, s3_proxy, tmp_path, callistos_worker, monkeypatch):
    monkeypatch.setenv("ENABLE_S3_BACKUP_ARCHIVAL", "true")
    done = run_cli("run", "--sponsor", "titan")

    assert done.returncode == 0, done.stderr
    assert "Archival for sponsor titan (production) is disabled (from default)." in done.stdout
    assert s3_proxy.requests == []


def test_a_flow_run_whose_parameters_name_titan_is_refused(s3, s3_proxy, prefect_harness, callistos_worker):
    failure, _ = run_flow(sponsor="titan", environment="production", enabled=True)

    assert str(failure) == NOT_BOUND
    assert failure.record["status"] == "failed" and failure.record["log_location"] == "local-only"
    assert list_keys(s3, BACKUPS) == [] and list_keys(s3, AUDIT) == []
    assert s3_proxy.requests == []


def test_a_parameter_cannot_point_titan_at_callistos_prefix(
    s3, s3_proxy, prefect_harness, callistos_worker, monkeypatch
):
    monkeypatch.setenv("CALLISTO_DATABASE_URL", callistos_worker)
    failure, _ = run_flow(sponsor="titan", enabled=True, env_prefix="CALLISTO_")

    assert str(failure).startswith("env_prefix CALLISTO_ is not sponsor titan's own (TITAN_)")
    assert s3_proxy.requests == []


def test_titan_archives_from_its_own_prefixed_variables(
    s3, s3_proxy, prefect_harness, callistos_worker, seeded_db, monkeypatch
):
    monkeypatch.setenv("TITAN_DATABASE_URL", seeded_db)
    monkeypatch.setenv("TITAN_AWS_ACCESS_KEY_ID", "titan-key")
    monkeypatch.setenv("TITAN_AWS_SECRET_ACCESS_KEY", "titan-secret")
    s3_proxy.confine("titan-key", {BACKUPS, AUDIT})

    log, _ = run_flow(sponsor="titan", enabled=True)

    assert log["status"] == "archived", log
    sql = _backup_sql(s3, log)
    assert b"CREATE TABLE public.diary_entries" in sql and b"callisto_only" not in sql
    assert log["settings_sources"]["database"] == "environment TITAN_DATABASE_URL"
    assert log["settings_sources"]["aws_identity"] == "environment TITAN_AWS_ACCESS_KEY_ID"
    assert {key for key, _ in s3_proxy.signed} == {"titan-key"}


def test_titan_archives_from_its_block(s3, s3_proxy, prefect_harness, callistos_worker, seeded_db):
    save_sponsor_block("titan-tenancy", s3_proxy.endpoint, seeded_db, enabled=True)

    log, _ = run_flow(sponsor="titan", sponsor_block="titan-tenancy")

    assert log["status"] == "archived", log
    assert b"callisto_only" not in _backup_sql(s3, log)
    assert log["settings_sources"]["database"] == "block titan-tenancy"


def test_the_home_sponsors_own_run_is_the_seeds_and_unchanged(s3, prefect_harness, seeded_db, monkeypatch):
    monkeypatch.setenv("SPONSOR", "titan")
    monkeypatch.setenv("DATABASE_URL", seeded_db)

    log, _ = run_flow(enabled=True)

    assert log["status"] == "archived" and log["sponsor"] == "titan"
    assert log["settings_sources"]["database"] == "environment DATABASE_URL"


def test_two_sponsors_with_their_own_keys_archive_in_one_nightly_each_in_its_own_buckets(
    s3, s3_proxy, moto_server, prefect_harness, callistos_worker, seeded_db, tmp_path, monkeypatch
):
    """Each key may touch only its sponsor's buckets (an IAM policy per sponsor, here the S3 proxy)."""
    from flows.archive_all_sponsors import archive_all_sponsors

    moto_server.make_buckets(CALLISTO_BACKUPS, CALLISTO_AUDIT)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "callisto-key")  # callisto's own, unprefixed
    monkeypatch.setenv("ENABLE_S3_BACKUP_ARCHIVAL", "true")
    monkeypatch.setenv("TITAN_ENABLE_S3_BACKUP_ARCHIVAL", "true")
    monkeypatch.setenv("TITAN_DATABASE_URL", seeded_db)
    monkeypatch.setenv("TITAN_AWS_ACCESS_KEY_ID", "titan-key")
    monkeypatch.setenv("TITAN_AWS_SECRET_ACCESS_KEY", DUMMY_KEY)
    s3_proxy.confine("titan-key", {BACKUPS, AUDIT})
    s3_proxy.confine("callisto-key", {CALLISTO_BACKUPS, CALLISTO_AUDIT})
    manifest = tmp_path / "sponsors.yaml"
    manifest.write_text("sponsors:\n  - name: callisto\n  - name: titan\n")

    summary = archive_all_sponsors(manifest=str(manifest))

    assert [(row["sponsor"], row["status"]) for row in summary] == [
        ("callisto", "archived"),
        ("titan", "archived"),
    ]
    touched = {}
    for key, bucket in s3_proxy.signed:
        touched.setdefault(key, set()).add(bucket)
    assert touched == {"callisto-key": {CALLISTO_BACKUPS, CALLISTO_AUDIT}, "titan-key": {BACKUPS, AUDIT}}
    callisto_key = [k for k in list_keys(s3, CALLISTO_BACKUPS) if k.endswith(".sql.gz")][0]
    callisto_sql = gzip.decompress(s3.get_object(Bucket=CALLISTO_BACKUPS, Key=callisto_key)["Body"].read())
    assert b"callisto clinical data" in callisto_sql
    [titan_log] = [json.loads(p.read_text()) for p in log_files(tmp_path / "logs" / "titan")]
    [callisto_log] = [json.loads(p.read_text()) for p in log_files(tmp_path / "logs" / "callisto")]
    assert b"callisto_only" not in _backup_sql(s3, titan_log)
    assert callisto_log["settings_sources"]["aws_identity"] == "environment AWS_ACCESS_KEY_ID"


def test_listing_titans_archive_with_only_callistos_keys_is_refused(s3, s3_proxy, callistos_worker):
    done = run_cli("list", "--sponsor", "titan")

    assert done.returncode != 0
    assert done.stderr.startswith("❌ No AWS credentials are bound to sponsor titan")
    assert "Traceback" not in done.stderr and s3_proxy.requests == []
