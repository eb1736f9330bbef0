"""A second copy's settings, bound as every other setting is; doctor and provision covering it; the tee.

No flow runs here: the archive runs with two copies are tests/test_second_copy.py.
"""

from __future__ import annotations

import threading

import pytest
from click.testing import CliRunner

from blocks.config import resolve_config
from blocks.flag import FlagDecision
from blocks.manifest import manifest_settings
from blocks.second_copy import at_copy
from hht_archival.adapters.pipe import BoundedPipe, StreamAborted
from hht_archival.adapters.tee import SecondCopyFellBehind, Tee
from hht_archival.alert_messages import Incident, opened
from hht_archival.cli import main
from hht_archival.doctor import run_checks
from hht_archival.errors import ConfigError
from hht_archival.provision import plan_bucket
from tests.conftest import AUDIT, BACKUPS

COPY2 = {
    "ARCHIVAL_COPY2_BACKUPS_BUCKET": "dr-backups-titan",
    "ARCHIVAL_COPY2_AUDIT_LOGS_BUCKET": "dr-audit-titan",
}


def _set(monkeypatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_no_second_copy_unless_both_of_its_buckets_are_set(monkeypatch):
    one_copy = resolve_config(sponsor="titan")
    assert one_copy.second is None
    with pytest.raises(ConfigError, match=r"^Sponsor titan has no second copy; set its ARCHIVAL_COPY2_"):
        at_copy(one_copy, 2)
    monkeypatch.setenv("ARCHIVAL_COPY2_BACKUPS_BUCKET", "dr-backups-titan")
    with pytest.raises(
        ConfigError, match=r"^Sponsor titan's second copy names a backups bucket but no audit "
    ):
        resolve_config(sponsor="titan")


def test_bound_from_the_sponsors_own_prefix_with_its_own_keys_never_another_sponsors(monkeypatch):
    _set(monkeypatch, **COPY2)  # unprefixed: the home sponsor titan's, not europa's
    _set(monkeypatch, EUROPA_AWS_ACCESS_KEY_ID="AKIAEUROPA", EUROPA_AWS_SECRET_ACCESS_KEY="europa-secret")
    assert resolve_config(sponsor="europa").second is None
    _set(
        monkeypatch,
        EUROPA_ARCHIVAL_COPY2_BACKUPS_BUCKET="dr-backups-europa",
        EUROPA_ARCHIVAL_COPY2_AUDIT_LOGS_BUCKET="dr-audit-europa",
        EUROPA_ARCHIVAL_COPY2_NAME="dr-b2",
        EUROPA_ARCHIVAL_COPY2_ENDPOINT_URL="https://s3.eu-central-003.example.com",
    )
    with pytest.raises(
        ConfigError, match=r"another provider \(s3.eu-central-003.example.com\) but has no identity"
    ):
        resolve_config(sponsor="europa")
    _set(
        monkeypatch,
        EUROPA_ARCHIVAL_COPY2_AWS_ACCESS_KEY_ID="KEYB2",
        EUROPA_ARCHIVAL_COPY2_AWS_SECRET_ACCESS_KEY="b2-secret-value",
    )
    config = resolve_config(sponsor="europa")
    there = at_copy(config, "dr-b2")
    assert (there.backups_bucket, there.audit_logs_bucket, there.copy_name) == (
        "dr-backups-europa",
        "dr-audit-europa",
        "dr-b2",
    )
    assert there.endpoint_url == "https://s3.eu-central-003.example.com" and there.region == config.region
    assert config.sources["copy2_aws_identity"] == "environment EUROPA_ARCHIVAL_COPY2_AWS_ACCESS_KEY_ID"
    assert "b2-secret-value" not in repr(config) and at_copy(config, 1) is config
    with pytest.raises(ConfigError, match=r"^Sponsor europa has no copy 'dr-us'; use --copy 1 \(primary\)"):
        at_copy(config, "dr-us")


def test_a_manifest_entry_binds_it_and_a_bad_one_is_one_sentence(tmp_path):
    manifest = tmp_path / "sponsors.yaml"
    manifest.write_text(
        "sponsors:\n  - name: titan\n    copy2:\n      name: dr-us\n      region: us-east-1\n"
        "      backups_bucket: dr-backups-titan\n      audit_logs_bucket: dr-audit-titan\n"
    )
    config = resolve_config(sponsor="titan", manifest=manifest_settings(manifest, "titan"))
    assert config.second.describe() == "dr-us (s3://dr-backups-titan, us-east-1)"
    assert config.sources["copy2_backups_bucket"] == f"manifest {manifest} copy2"
    manifest.write_text("sponsors:\n  - name: titan\n    copy2:\n      bucket: dr\n")
    with pytest.raises(ConfigError, match=r"sponsors.yaml.*copy2"):
        manifest_settings(manifest, "titan")


def test_a_second_copy_in_a_bucket_of_the_first_is_refused(monkeypatch):
    _set(
        monkeypatch, ARCHIVAL_COPY2_BACKUPS_BUCKET=BACKUPS, ARCHIVAL_COPY2_AUDIT_LOGS_BUCKET="dr-audit-titan"
    )
    with pytest.raises(ConfigError, match="uses a bucket of the first copy; give it buckets of its own"):
        resolve_config(sponsor="titan")


def test_provision_makes_both_copies_buckets_and_doctor_names_the_second_in_its_rows(
    moto_server, s3, monkeypatch, seeded_db
):
    monkeypatch.setenv("DATABASE_URL", seeded_db)
    _set(monkeypatch, ARCHIVAL_COPY2_NAME="dr-us", ARCHIVAL_COPY2_REGION="us-east-1", **COPY2)
    for bucket in (BACKUPS, AUDIT):
        for change in plan_bucket(s3, bucket, "eu-west-1"):
            change.apply()

    def copy2_rows() -> dict[str, str]:
        rows = run_checks(resolve_config(sponsor="titan"), FlagDecision(True, "environment"))
        return {row.check: row.status for row in rows if row.check.startswith("dr-us: ")}

    before = copy2_rows()
    assert before["dr-us: backups bucket exists"] == "fail" and before["dr-us: second copy"] == "ok", before
    done = CliRunner().invoke(main, ["provision", "--sponsor", "titan"])
    assert done.exit_code == 0 and "dr-backups-titan: bucket: absent -> created in us-east-1" in done.output
    after = copy2_rows()
    for check in ("backups bucket versioning", "backups bucket encryption", "audit bucket lifecycle"):
        assert after[f"dr-us: {check}"] == "ok", after
    assert not [check for check, status in after.items() if status == "fail"], after


def _drain(pipe: BoundedPipe, into: list[bytes]) -> threading.Thread:
    thread = threading.Thread(target=lambda: into.extend(pipe), daemon=True)
    thread.start()
    return thread


def test_a_stalled_second_copy_is_dropped_and_the_first_gets_every_byte():
    """The back-pressure policy on real pipes: nobody reads the second copy's, so it fills and stalls."""
    first, second = BoundedPipe(1024), BoundedPipe(1024)
    tee = Tee(first, second, grace_seconds=0.2, max_slowdown=0.0)
    received: list[bytes] = []
    reader = _drain(first, received)
    for _ in range(50):
        tee.put(b"x" * 100)
    tee.close()
    reader.join(10)
    assert b"".join(received) == b"x" * 5000
    assert isinstance(tee.dropped, SecondCopyFellBehind) and second.failure is tee.dropped
    assert "fell behind the first copy by more than its budget" in str(tee.dropped)
    with pytest.raises(StreamAborted):
        list(second)  # its upload sees the failure, never the end of the stream: it aborts


def test_a_failed_second_upload_stops_only_the_second_copy_and_waits_for_the_first_to_land():
    first, second = BoundedPipe(1024), BoundedPipe(1024)
    tee = Tee(first, second, grace_seconds=30, max_slowdown=0.15)
    received: list[bytes] = []
    reader = _drain(first, received)
    second.fail(ConfigError("access denied at the second destination"))
    for _ in range(20):
        tee.put(b"y" * 100)
    tee.close()
    reader.join(10)
    assert b"".join(received) == b"y" * 2000 and str(tee.dropped) == "access denied at the second destination"
    healthy = Tee(BoundedPipe(1024), BoundedPipe(1024), grace_seconds=30, max_slowdown=0.15)
    healthy.first.fail(ConfigError("the first copy failed"))
    with pytest.raises(StreamAborted, match="the first copy failed"):
        healthy.wait_for_first()  # a second copy never completes where the first did not


def test_the_degraded_incidents_message_names_the_destination_and_what_to_do():
    incident = Incident(
        "archive", "degraded", "titan", "production", "2026-12-04T02:00:00Z", detail="dr-us down"
    )
    subject, body = opened(incident, None, "run 1")
    assert subject == "❌ hht-archival titan (production): the second copy of a backup failed"
    assert "dr-us down" in body and "verify --copies --sponsor titan" in body


def test_a_sponsor_block_binds_the_second_copy_with_its_own_credentials(prefect_harness, monkeypatch):
    from prefect_aws import AwsCredentials
    from prefect_aws.s3 import S3Bucket

    from blocks.sponsor import SponsorArchival, load_sponsor_block

    _set(
        monkeypatch,
        ARCHIVAL_COPY2_BACKUPS_BUCKET="env-dr-backups",
        ARCHIVAL_COPY2_AUDIT_LOGS_BUCKET="env-dr-audit",
    )
    keys = AwsCredentials(aws_access_key_id="AKIADR", aws_secret_access_key="dr-block-secret")
    keys.save("titan-dr-keys", overwrite=True)
    S3Bucket(bucket_name="block-dr-backups").save("titan-dr-backups", overwrite=True)
    S3Bucket(bucket_name="block-dr-audit").save("titan-dr-audit", overwrite=True)
    SponsorArchival(
        sponsor="titan",
        copy2_name="dr-block",
        copy2_region="us-west-2",
        copy2_backups_bucket_block="titan-dr-backups",
        copy2_audit_logs_bucket_block="titan-dr-audit",
        copy2_aws_credentials_block="titan-dr-keys",
    ).save("titan-two-copies", overwrite=True)

    config = resolve_config(sponsor_block=load_sponsor_block("titan-two-copies"))

    there = at_copy(config, 2)
    assert (there.copy_name, there.region, there.backups_bucket) == (
        "dr-block",
        "us-west-2",
        "block-dr-backups",
    )
    assert config.sources["copy2_backups_bucket"] == "block titan-two-copies"
    assert config.sources["copy2_aws_identity"] == "block aws-credentials/titan-dr-keys"
    assert there.aws_credentials.aws_access_key_id == "AKIADR" and "dr-block-secret" not in repr(config)
