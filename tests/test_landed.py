"""What was written is what landed: tags read back on two S3 implementations, Object Lock, retries.

s3rver (npm) keeps an object sent with an ``x-amz-tagging`` header but drops
its tags; moto keeps them. The same runs go against both.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from tests.conftest import AUDIT, BACKUPS, run_cli
from tests.flowhelpers import get_tags, run_flow
from tests.support import s3rver as s3rver_support
from tests.support.faultproxy import is_put_object

pytestmark = pytest.mark.usefixtures("prefect_harness")
CHAIN_HEAD = "deployments/chain-head-prod.json"


def _key(location: str) -> str:
    return location.split("/", 3)[3]


@pytest.fixture(scope="module")
def s3rver():
    missing = s3rver_support.missing_tools()
    if missing:
        pytest.skip(missing)
    with s3rver_support.S3rver() as server:
        yield server


@pytest.fixture
def on_s3rver(s3rver, monkeypatch):
    """Runs go to s3rver (its own keys), with titan's two buckets created empty there."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3rver.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3rver_support.ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3rver_support.SECRET_KEY)
    client = boto3.client(
        "s3",
        endpoint_url=s3rver.endpoint,
        region_name="eu-west-1",
        aws_access_key_id=s3rver_support.ACCESS_KEY,
        aws_secret_access_key=s3rver_support.SECRET_KEY,
    )
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    for bucket in (BACKUPS, AUDIT):
        if bucket in existing:
            for obj in client.list_objects_v2(Bucket=bucket).get("Contents", []):
                client.delete_object(Bucket=bucket, Key=obj["Key"])
        else:
            client.create_bucket(Bucket=bucket)
    return client


def test_on_s3rver_every_object_ends_the_run_with_its_tags(on_s3rver, seeded_db, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", seeded_db)
    first, _ = run_flow(sponsor="titan", enabled=True)
    second, _ = run_flow(sponsor="titan", enabled=True)

    for log in (first, second):
        assert isinstance(log, dict) and log["status"] == "archived", log
        expected = {
            (BACKUPS, _key(log["backup_location"])): ("database-backup", log["backup_sha256"]),
            (BACKUPS, _key(log["roles_location"])): ("database-roles", log["roles_sha256"]),
            (AUDIT, _key(log["log_location"])): ("deployment-log", _log_sha256(on_s3rver, log)),
        }
        for (bucket, key), (data_class, sha256) in expected.items():
            tags = get_tags(on_s3rver, bucket, key)
            assert tags["data-class"] == data_class and tags["sha256"] == sha256, (key, tags)
            assert tags["retain-until"] == log["retain_until"] and tags["sponsor"] == "titan"
    assert get_tags(on_s3rver, AUDIT, CHAIN_HEAD)["data-class"] == "log-chain-head"
    first_bytes = on_s3rver.get_object(Bucket=AUDIT, Key=_key(first["log_location"]))["Body"].read()
    assert second["previous_log"] == _key(first["log_location"])
    assert second["previous_log_sha256"] == hashlib.sha256(first_bytes).hexdigest()


def _log_sha256(client, log: dict) -> str:
    """The SHA-256 of the uploaded log's own bytes: what its sha256 tag must hold (not the backup's)."""
    return hashlib.sha256(
        client.get_object(Bucket=AUDIT, Key=_key(log["log_location"]))["Body"].read()
    ).hexdigest()


def test_a_store_that_does_not_keep_tags_fails_the_run_in_one_sentence(s3, s3_proxy, seeded_db, monkeypatch):
    """A store that answers PutObjectTagging 200 and keeps nothing (the proxy answers for it)."""
    monkeypatch.setenv("DATABASE_URL", seeded_db)
    monkeypatch.setenv("ARCHIVAL_TASK_RETRIES", "0")
    s3_proxy.swallow(lambda m, p, q: m == "PUT" and "tagging" in q and "/backups/" in p, times=None)

    failure, _ = run_flow(sponsor="titan", enabled=True)

    message = str(failure)
    assert message.startswith(f"The backup s3://{BACKUPS}/backups/") and message.count(". ") == 0
    assert message.endswith(
        "of sponsor titan landed without its tag(s) sha256, and the S3 store did not keep them when they "
        "were set again (PutObjectTagging); a retention archive must not be left untagged: use an S3 store "
        "that keeps object tags."
    )


def test_a_throttled_log_upload_is_retried_like_every_step(s3, s3_proxy, seeded_db, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", seeded_db)
    log_put = lambda m, p, q: is_put_object(m, p, q) and "/deployments/20" in p  # noqa: E731
    s3_proxy.fail(log_put, status=503, code="SlowDown", times=2)  # both of botocore's attempts (2 here)

    log, _ = run_flow(sponsor="titan", enabled=True)

    assert isinstance(log, dict) and log["status"] == "archived", log
    assert log["log_location"].startswith(f"s3://{AUDIT}/deployments/")
    assert sum(log_put(*r) for r in s3_proxy.requests) == 3  # two refused, the task's retry landed
    assert json.loads(s3.get_object(Bucket=AUDIT, Key=_key(log["log_location"]))["Body"].read())[
        "status"
    ] == ("archived")


def test_with_object_lock_each_object_gets_its_own_compliance_retention(
    moto_server, s3, seeded_db, monkeypatch
):
    moto_server.reset()
    moto_server.make_locked_buckets(BACKUPS, AUDIT)
    monkeypatch.setenv("DATABASE_URL", seeded_db)

    log, _ = run_flow(sponsor="titan", enabled=True)

    assert isinstance(log, dict) and log["status"] == "archived", log
    until = datetime.fromisoformat(log["retain_until"]).replace(tzinfo=UTC) + timedelta(days=1)
    assert log["object_lock_retain_until"] == until.isoformat().replace("+00:00", "Z")
    for bucket, location in (
        (BACKUPS, log["backup_location"]),
        (BACKUPS, log["roles_location"]),
        (AUDIT, log["log_location"]),
    ):
        state = s3.head_object(Bucket=bucket, Key=_key(location))  # moto's GetObjectRetention answers 500
        assert state["ObjectLockMode"] == "COMPLIANCE"
        assert state["ObjectLockRetainUntilDate"] == until, location
        with pytest.raises(Exception, match="AccessDenied"):
            s3.delete_object(Bucket=bucket, Key=_key(location), VersionId=state["VersionId"])

    listed = run_cli("list", "--sponsor", "titan")
    assert listed.returncode == 0, listed.stderr
    assert f"Object Lock: COMPLIANCE until {until.isoformat()}" in listed.stdout


def test_a_longer_bucket_default_is_never_shortened(moto_server, s3, seeded_db, monkeypatch):
    """A bucket locked for 10 years: each object keeps (at least) its 10 calendar years, not 7."""
    moto_server.reset()
    moto_server.make_locked_buckets(BACKUPS, AUDIT, years=10)
    monkeypatch.setenv("DATABASE_URL", seeded_db)

    log, _ = run_flow(sponsor="titan", enabled=True)

    assert isinstance(log, dict) and log["status"] == "archived", log
    started = datetime.fromisoformat(log["timestamp"].replace("Z", "+00:00"))
    ten_years = started.replace(year=started.year + 10)
    state = s3.head_object(Bucket=BACKUPS, Key=_key(log["backup_location"]))
    until = state["ObjectLockRetainUntilDate"]
    assert ten_years < until < ten_years + timedelta(days=2) and until.time().isoformat() == "00:00:00"
    assert log["object_lock_retain_until"] == until.astimezone(UTC).isoformat().replace("+00:00", "Z")
