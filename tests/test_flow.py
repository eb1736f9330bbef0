"""The archive-sponsor flow under a real Prefect API, against real PostgreSQL and S3 on loopback."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import uuid
from datetime import date
from pathlib import Path

import psycopg
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, LogFilter

from flows.archive_sponsor import ArchivalFailed
from flows.run_artifacts import read_record
from hht_archival.progress import human_size
from tests.conftest import AUDIT, BACKUPS, SPONSOR, log_files
from tests.flowhelpers import (
    expected_keys,
    get_tags,
    read_artifact,
    read_json_object,
    run_flow,
    save_sponsor_block,
    task_run_counts,
)
from tests.support.faultproxy import is_create_multipart, is_put_object, is_upload_part
from tests.support.pgcluster import SEED_ROW_COUNTS, table_snapshot
from tests.support.s3server import list_keys, open_multipart_uploads

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _only_log(tmp_path: Path) -> dict:
    files = log_files(tmp_path / "logs" / SPONSOR)
    assert len(files) == 1, files
    return json.loads(files[0].read_text())


def test_disabled_by_default_writes_a_local_log_and_makes_no_s3_call(s3, s3_proxy, tmp_path):
    result, flow_run_id = run_flow(sponsor="titan")

    log = _only_log(tmp_path)
    assert log == {k: v for k, v in result.items() if k != "local_log"}
    assert log["s3_archival_enabled"] is False
    assert log["status"] == "skipped"
    assert log["flag_source"] == "default"
    assert log["backup_location"] == "not-configured"
    assert log["backup_size"] == 0
    assert log["backup_sha256"] is None
    assert log["log_location"] == "local-only"
    assert log["error"] is None
    assert s3_proxy.requests == []
    assert set(task_run_counts(flow_run_id)) == {"check_flag-titan-production", "write_log-titan-production"}
    banner = read_artifact("s3-archival-disabled-titan-production", flow_run_id)
    assert "S3 BACKUP ARCHIVAL NOT YET ENABLED" in banner.data
    assert BACKUPS in banner.data and AUDIT in banner.data


def test_enabled_archives_a_restorable_encrypted_tagged_backup_and_the_log(
    s3, seeded_db, empty_db, tmp_path, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", seeded_db)
    monkeypatch.setenv("ENABLE_S3_BACKUP_ARCHIVAL", "true")
    monkeypatch.setenv("GITHUB_SHA", "abc123")
    monkeypatch.setenv("GITHUB_ACTOR", "octo")

    result, flow_run_id = run_flow(sponsor="titan", deployment={"version": "2.4.0"})

    log = _only_log(tmp_path)
    backup_key, log_key = expected_keys(log, "prod")
    assert log["status"] == "archived" and log["error"] is None
    assert log["flag_source"] == "environment"
    assert log["backup_location"] == f"s3://{BACKUPS}/{backup_key}"
    assert log["log_location"] == f"s3://{AUDIT}/{log_key}"
    assert log["deployment"] == {"version": "2.4.0", "git_sha": "abc123", "actor": "octo"}
    roles_key = backup_key.replace(".sql.gz", ".roles.json")  # beside the backup: pg_dump leaves roles out
    assert list_keys(s3, BACKUPS) == [roles_key, backup_key]
    assert log["table_counts"] == {f"public.{table}": rows for table, rows in SEED_ROW_COUNTS.items()}

    body = s3.get_object(Bucket=BACKUPS, Key=backup_key)["Body"].read()
    assert log["backup_size"] == len(body)
    assert log["backup_sha256"] == hashlib.sha256(body).hexdigest()

    archive = tmp_path / "backup.sql.gz"
    archive.write_bytes(body)
    sql = subprocess.run(["gunzip", "-c", str(archive)], capture_output=True, check=True).stdout
    assert b"-- PostgreSQL database dump complete" in sql[-4096:]
    subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", empty_db],
        input=sql,
        capture_output=True,
        check=True,
    )
    assert table_snapshot(empty_db) == table_snapshot(seeded_db)

    retain_until = date.today().replace(year=date.today().year + 7).isoformat()
    assert get_tags(s3, BACKUPS, backup_key) == {
        "retention-years": "7",
        "retain-until": retain_until,
        "sponsor": "titan",
        "environment": "production",
        "data-class": "database-backup",
        "sha256": log["backup_sha256"],
    }
    head = s3.head_object(Bucket=BACKUPS, Key=backup_key)
    assert head["ServerSideEncryption"] == "AES256"
    assert head["Metadata"] == {"sponsor": "titan", "environment": "production"}

    roles_body = s3.get_object(Bucket=BACKUPS, Key=roles_key)["Body"].read()
    assert log["roles_location"] == f"s3://{BACKUPS}/{roles_key}"
    assert log["roles_sha256"] == hashlib.sha256(roles_body).hexdigest()
    assert get_tags(s3, BACKUPS, roles_key) == {
        "retention-years": "7",
        "retain-until": retain_until,
        "sponsor": "titan",
        "environment": "production",
        "data-class": "database-roles",
        "sha256": log["roles_sha256"],
    }
    assert s3.head_object(Bucket=BACKUPS, Key=roles_key)["ServerSideEncryption"] == "AES256"
    roles = json.loads(roles_body)
    assert roles["password_hashes"] is False and roles["backup"] == backup_key
    with psycopg.connect(seeded_db) as conn:  # the seeded tables' owner: the only role they refer to
        owner = conn.execute("SELECT current_user").fetchone()[0]
    assert [r["name"] for r in roles["roles"]] == [owner]

    uploaded_log = read_json_object(s3, AUDIT, log_key)
    assert uploaded_log == log
    log_tags = get_tags(s3, AUDIT, log_key)
    assert log_tags["data-class"] == "deployment-log"
    log_bytes = s3.get_object(Bucket=AUDIT, Key=log_key)["Body"].read()
    assert log_tags["sha256"] == hashlib.sha256(log_bytes).hexdigest() != log["backup_sha256"]
    assert s3.head_object(Bucket=AUDIT, Key=log_key)["Metadata"]["backup-sha256"] == log["backup_sha256"]
    assert s3.head_object(Bucket=AUDIT, Key=log_key)["ServerSideEncryption"] == "AES256"
    assert set(task_run_counts(flow_run_id).values()) == {1}
    shown = read_artifact("backup-titan-production", flow_run_id).data  # what a person reads in the UI
    endpoint = os.environ["AWS_ENDPOINT_URL"]  # moto, not AWS: the link opens the object there
    assert f"- **Backup:** `{log['backup_location']}` ([open at {endpoint}]({endpoint}/{BACKUPS}/" in shown
    assert "console.aws.amazon.com" not in shown and f"- **SHA-256:** `{log['backup_sha256']}`" in shown
    assert (
        f"- **Retention:** tagged for 7 years (retain-until {log['retain_until']}); not locked (the backups "
        "bucket has no Object Lock, so S3 does not stop a deletion)"
    ) in shown
    assert f"- **Deployment log:** `{log['log_location']}`" in shown
    assert f"- **Rows:** {sum(SEED_ROW_COUNTS.values()):,} rows in {len(SEED_ROW_COUNTS)} tables" in shown
    assert f"({log['backup_size']:,} bytes)" in shown and "| |" not in shown  # units; no empty header row
    page = read_artifact("archive-log-titan-production", flow_run_id)  # what the nightly and CI read back
    published = {k: v for k, v in log.items() if k != "local_log"}
    assert read_record(flow_run_id, "titan", "production") == published
    assert "null" not in page.data and '{"' not in page.data and "- **Status" not in page.data
    assert f"- **Size:** {human_size(log['backup_size'])} ({log['backup_size']:,} bytes)" in page.data


def test_sse_kms_is_requested_when_a_key_is_configured(s3, seeded_db, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", seeded_db)
    monkeypatch.setenv("ARCHIVAL_SSE_KMS_KEY_ID", "alias/hht-archival")
    result, _ = run_flow(sponsor="titan", enabled=True)
    assert result["status"] == "archived"
    backup_key = result["backup_location"].split("/", 3)[3]
    head = s3.head_object(Bucket=BACKUPS, Key=backup_key)
    assert head["ServerSideEncryption"] == "aws:kms"


def test_an_unreachable_database_fails_in_seconds_before_any_dump_or_upload(s3, tmp_path, monkeypatch):
    """A deployment's run (no command line before it) checks its database first, as the CLI does."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:9/nowhere")
    failure, flow_run_id = run_flow(sponsor="titan", enabled=True)

    assert isinstance(failure, ArchivalFailed)
    assert str(failure).startswith("The database for sponsor titan did not answer after ")
    assert str(failure).endswith(
        "failed: Connection refused); check that the server in DATABASE_URL is running and reachable, then "
        "run again."
    )
    log = _only_log(tmp_path)
    assert log["status"] == "failed" and log["error"] == str(failure)
    assert log["backup_location"] == "not-configured" and log["backup_size"] == 0
    assert "dump-titan-production" not in task_run_counts(flow_run_id)
    # Found before the archive lock, so nothing is written to S3: not even the log (a chain link is
    # added only under the lock).
    assert list_keys(s3, BACKUPS) == [] and list_keys(s3, AUDIT) == []
    assert log["log_location"] == "local-only"


def test_missing_buckets_fail_at_once_naming_provision(
    s3, moto_server, s3_proxy, seeded_db, tmp_path, monkeypatch
):
    moto_server.reset()  # no buckets at all
    monkeypatch.setenv("DATABASE_URL", seeded_db)
    failure, flow_run_id = run_flow(sponsor="titan", enabled=True)

    assert str(failure) == (
        f"Buckets {BACKUPS} (the default name) and {AUDIT} (the default name) do not exist for sponsor "
        "titan; create them with hht-archival provision --sponsor titan --environment production (or correct "
        "the name), then check with hht-archival doctor --sponsor titan --environment production."
    )
    assert "upload-titan-production" not in task_run_counts(flow_run_id)
    assert [r for r in s3_proxy.requests if is_put_object(*r)] == []
    log = _only_log(tmp_path)
    assert log["status"] == "failed" and log["log_location"] == "local-only"


def test_upload_failing_midway_leaves_nothing_at_the_key_and_no_open_multipart(
    s3, s3_proxy, bulky_db, tmp_path, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", bulky_db)
    monkeypatch.setenv("ARCHIVAL_PART_SIZE_MIB", "5")
    s3_proxy.fail(lambda m, p, q: is_upload_part(m, p, q) and q.get("partNumber") == "2", times=None)

    failure, flow_run_id = run_flow(sponsor="titan", enabled=True)

    assert isinstance(failure, ArchivalFailed)
    assert "S3 answered InternalError for sponsor titan" in str(failure)
    assert list_keys(s3, BACKUPS) == []
    assert open_multipart_uploads(s3, BACKUPS) == []
    creates = [r for r in s3_proxy.requests if is_create_multipart(*r)]
    assert len(creates) == 2  # the task was retried once, and each attempt was aborted
    assert task_run_counts(flow_run_id)["upload-titan-production"] == 2
    assert _only_log(tmp_path)["status"] == "failed"


def test_multipart_upload_that_succeeds_has_every_byte(s3, s3_proxy, bulky_db, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", bulky_db)
    monkeypatch.setenv("ARCHIVAL_PART_SIZE_MIB", "5")
    s3_proxy.fail(is_upload_part, status=503, code="SlowDown", times=1)  # one throttle, then fine

    result, flow_run_id = run_flow(sponsor="titan", enabled=True)

    assert result["status"] == "archived"
    parts = [r for r in s3_proxy.requests if is_upload_part(*r)]
    assert len({r[2]["partNumber"] for r in parts}) >= 2
    key = result["backup_location"].split("/", 3)[3]
    body = s3.get_object(Bucket=BACKUPS, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == result["backup_sha256"]
    assert result["upload_parts"] == len({r[2]["partNumber"] for r in parts})
    assert result["s3_retries"] == 1  # the throttled part was sent again, once
    assert set(task_run_counts(flow_run_id).values()) == {1}  # no step restarted


def test_settings_from_prefect_blocks(s3, s3_proxy, seeded_db, tmp_path, monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)  # the blocks alone must be enough
    save_sponsor_block("titan-test", s3_proxy.endpoint, seeded_db, enabled=True)

    result, _ = run_flow(sponsor_block="titan-test")

    assert result["status"] == "archived" and result["flag_source"] == "block"
    assert list_keys(s3, BACKUPS) == [result[f"{k}_location"].split("/", 3)[3] for k in ("roles", "backup")]


def test_a_client_from_an_aws_credentials_block_gets_the_same_retries_and_signing(monkeypatch):
    """A block's client once got botocore's defaults: other retry counts, every part hashed twice."""
    from prefect_aws import AwsCredentials
    from prefect_aws.client_parameters import AwsClientParameters

    from hht_archival.adapters.s3 import make_client

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "4")
    block = AwsCredentials(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_client_parameters=AwsClientParameters(
            endpoint_url="http://127.0.0.1:9", config={"read_timeout": 7}
        ),
    )
    client = make_client("eu-west-1", block)

    assert client.meta.endpoint_url == "http://127.0.0.1:9" and client.meta.region_name == "eu-west-1"
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert client.meta.config.s3["payload_signing_enabled"] is False
    assert client.meta.config.read_timeout == 7  # the block's own botocore settings win


def test_a_refused_run_ends_failed_with_its_sentence_and_leaves_no_traceback_or_result(tmp_path, monkeypatch):
    """Read back as the UI shows them: the run's state, logs and artifacts. First a deployment's run with
    no sponsor on a worker that serves titan (SPONSOR) and europa (its variables), then a bad prefix."""
    monkeypatch.chdir(tmp_path)  # no sponsors.yaml here
    monkeypatch.setenv("PREFECT__RUNTIME__DEPLOYMENT__ID", str(uuid.uuid4()))  # as a worker runs a deployment
    monkeypatch.setenv("EUROPA_DATABASE_URL", "postgresql://backup@127.0.0.1:9/europa")
    unchosen, unchosen_run = run_flow(sponsor="", log_dir=str(tmp_path))
    assert str(unchosen) == (
        f"No sponsor was chosen for this run, and worker {socket.gethostname()} serves several (titan, "
        "europa); choose the sponsor in the run's form (sponsor=NAME from the API) and run again."
    )
    bad_prefix, bad_prefix_run = run_flow(sponsor="titan", env_prefix="EUROPA_", log_dir=str(tmp_path))
    assert str(bad_prefix).startswith("env_prefix EUROPA_ is not sponsor titan's own (TITAN_)")

    with get_client(sync_client=True) as client:
        for failure, run_id, key in (
            (unchosen, unchosen_run, "archive-log-no-sponsor-production"),  # nobody's log, nobody's alert
            (bad_prefix, bad_prefix_run, "archive-log-titan-production"),
        ):
            run = client.read_flow_run(run_id)
            assert (run.state.type.value, run.state.message) == ("FAILED", str(failure))
            logs = [log.message for log in client.read_logs(LogFilter(flow_run_id={"any_": [run_id]}))]
            assert not [m for m in logs if "Traceback" in m or "Encountered exception" in m], logs
            artifacts = client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
            )
            assert [(a.type, a.key) for a in artifacts] == [("markdown", key)]  # no unnamed "result"
    assert (unchosen.record["sponsor"], unchosen.record["status"]) == ("(none chosen)", "failed")
