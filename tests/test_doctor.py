"""doctor and provision against S3 on loopback: green after provision, each fault its own red row."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from blocks.config import resolve_config
from blocks.flag import FlagDecision
from hht_archival.adapters.bucket_settings import RULE_ID
from hht_archival.adapters.pg_lock import Holder, archive_lock, read_holder
from hht_archival.doctor import passed, run_checks
from hht_archival.provision import plan_bucket
from tests.conftest import AUDIT, BACKUPS, run_cli
from tests.support.s3server import s3_client

PROVISION_FIX = "hht-archival provision --sponsor titan --environment production"


@pytest.fixture
def provisioned(moto_server, s3, monkeypatch, seeded_db):
    """Titan's buckets exactly as provision makes them, and a reachable database."""
    moto_server.reset()
    monkeypatch.setenv("DATABASE_URL", seeded_db)
    for bucket in (BACKUPS, AUDIT):
        for change in plan_bucket(s3, bucket, "eu-west-1"):
            change.apply()
    return s3


def _failures(**config):
    rows = run_checks(resolve_config(sponsor="titan", **config), FlagDecision(True, "environment"))
    return {row.check: (row.detail, row.fix) for row in rows if row.status == "fail"}, rows


def test_provision_then_doctor_is_all_green(provisioned):
    failures, rows = _failures()
    assert failures == {}
    assert passed(rows)
    checks = {row.check: row.status for row in rows}
    for bucket in ("backups bucket", "audit bucket"):
        for what in (
            "exists",
            "region",
            "versioning",
            "encryption",
            "public access",
            "lifecycle",
            "permissions",
        ):
            assert checks[f"{bucket} {what}"] == "ok"
        assert checks[f"{bucket} object lock"] == "warn"  # advice, not a blocker
    # moto's identity may read everything: said as advice, never as "allowed ✅"
    assert checks["backups bucket reads"] == "warn"
    assert checks["AWS credentials"] == checks["database"] == checks["pg_dump"] == "ok"
    assert checks["audit bucket log chain"] == "ok"
    assert checks["archive lock"] == "ok"


def test_doctor_names_the_run_holding_the_archive_lock_and_how_to_end_a_dead_ones(provisioned, seeded_db):
    holder = Holder(run="archive-titan-production", run_id="5c1", host="worker-b", pid="77", started="T0")
    with archive_lock(
        seeded_db, "titan", "production", wait_seconds=0, lease_seconds=60, holder=holder, say=print
    ):
        session = read_holder(seeded_db, "titan", "production").session_pid
        _, rows = _failures()
    [row] = [row for row in rows if row.check == "archive lock"]
    assert (row.status, row.detail) == (
        "warn",
        "held by run archive-titan-production (5c1) on host worker-b (pid 77), started at T0, so a run now "
        "would wait for it; if that run is gone, end its database session: "
        f"SELECT pg_terminate_backend({session})",
    )


def test_a_missing_bucket(provisioned):
    provisioned.delete_bucket(Bucket=AUDIT)
    failures, _ = _failures()
    assert failures == {"audit bucket exists": (f"{AUDIT} does not exist", PROVISION_FIX)}


def test_no_lifecycle(provisioned):
    provisioned.delete_bucket_lifecycle(Bucket=BACKUPS)
    failures, _ = _failures()
    assert list(failures) == ["backups bucket lifecycle"]
    assert "no transition to DEEP_ARCHIVE at 90 days (found: none)" in failures["backups bucket lifecycle"][0]
    assert failures["backups bucket lifecycle"][1] == PROVISION_FIX


def test_wrong_transition_days(provisioned):
    provisioned.put_bucket_lifecycle_configuration(
        Bucket=BACKUPS,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": RULE_ID,
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "Transitions": [{"Days": 30, "StorageClass": "DEEP_ARCHIVE"}],
                    "Expiration": {"Days": 2555},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                }
            ]
        },
    )
    failures, _ = _failures()
    assert failures == {
        "backups bucket lifecycle": (
            "no transition to DEEP_ARCHIVE at 90 days (found: DEEP_ARCHIVE at 30 days)",
            PROVISION_FIX,
        )
    }


def test_no_versioning(provisioned):
    provisioned.put_bucket_versioning(Bucket=BACKUPS, VersioningConfiguration={"Status": "Suspended"})
    failures, _ = _failures()
    assert failures == {"backups bucket versioning": ("Suspended", PROVISION_FIX)}


def test_no_encryption(provisioned):
    provisioned.delete_bucket_encryption(Bucket=AUDIT)
    failures, _ = _failures()
    assert failures == {"audit bucket encryption": ("no default encryption", PROVISION_FIX)}


def test_public_access_open(provisioned):
    provisioned.delete_public_access_block(Bucket=BACKUPS)
    failures, _ = _failures()
    assert failures == {"backups bucket public access": ("no public access block set", PROVISION_FIX)}
    partly = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False}
    provisioned.put_public_access_block(
        Bucket=BACKUPS, PublicAccessBlockConfiguration={**partly, "RestrictPublicBuckets": False}
    )
    failures, _ = _failures()
    assert failures["backups bucket public access"][0] == (
        "not fully blocked: BlockPublicPolicy, RestrictPublicBuckets off"
    )


def test_tagging_denied(provisioned, s3_proxy):
    s3_proxy.fail(
        lambda m, p, q: m == "PUT" and "tagging" in q and "/doctor/" in p,
        status=403,
        code="AccessDenied",
        times=None,
    )
    failures, _ = _failures()
    assert set(failures) == {"backups bucket permissions", "audit bucket permissions"}
    detail, fix = failures["backups bucket permissions"]
    assert detail.startswith(
        f"s3:PutObjectTagging denied on s3://{BACKUPS}/doctor/ (AccessDenied); allowed: PutObject"
    )
    assert fix == "grant s3:PutObjectTagging (see: hht-archival iam-policy --sponsor titan)"


LOG_KEY = "deployments/2026/11/28/deployment-prod-20261128-020000.json"
CHAIN_REQUESTS = {
    "ListObjectsV2": lambda m, p, q: m == "GET" and "list-type" in q and p.strip("/") == AUDIT,
    "GetObject": lambda m, p, q: m == "GET" and p.startswith(f"/{AUDIT}/deployments/"),
}


def test_the_log_chain_readable_names_the_log_the_next_run_follows(provisioned):
    provisioned.put_object(Bucket=AUDIT, Key=LOG_KEY, Body=b"{}")
    _, rows = _failures()
    [chain] = [row for row in rows if row.check == "audit bucket log chain"]
    assert (chain.status, chain.detail) == ("ok", f"the next log will follow {LOG_KEY}")


@pytest.mark.parametrize("refused", sorted(CHAIN_REQUESTS))
def test_reading_the_log_chain_denied(provisioned, s3_proxy, refused):
    """Without it a run keeps its log local (it cannot link it): doctor says so before the first night."""
    provisioned.put_object(Bucket=AUDIT, Key=LOG_KEY, Body=b"{}")
    s3_proxy.fail(CHAIN_REQUESTS[refused], status=403, code="AccessDenied", times=None)
    failures, _ = _failures()
    assert list(failures) == ["audit bucket log chain"]
    detail, fix = failures["audit bucket log chain"]
    assert detail.startswith(f"{refused} under s3://{AUDIT}/deployments/ failed (AccessDenied)")
    assert fix == (
        "grant s3:ListBucket (prefix deployments/) and s3:GetObject on deployments/* "
        "(see: hht-archival iam-policy --sponsor titan)"
    )


def test_wrong_region(moto_server, s3, monkeypatch, seeded_db):
    moto_server.reset()
    monkeypatch.setenv("DATABASE_URL", seeded_db)
    central = s3_client(moto_server.endpoint, region="eu-central-1")
    for bucket in (BACKUPS, AUDIT):
        for change in plan_bucket(central, bucket, "eu-central-1"):
            change.apply()
    failures, _ = _failures()
    assert set(failures) == {"backups bucket region", "audit bucket region"}
    assert failures["backups bucket region"] == (
        "eu-central-1, expected eu-west-1",
        "set SPONSOR_AWS_REGION=eu-central-1, or use a bucket in eu-west-1",
    )


def test_a_stale_pg_dump(provisioned, tmp_path, monkeypatch):
    """A real older pg_dump cannot be installed beside the server here, so its version line is faked."""
    fake = tmp_path / "pg_dump"
    fake.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 12.22'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("ARCHIVAL_PG_DUMP", str(fake))
    failures, _ = _failures()
    assert list(failures) == ["pg_dump"]
    detail, fix = failures["pg_dump"]
    assert detail.startswith("pg_dump (PostgreSQL) 12.22 is older than the server")
    assert fix.startswith("apt-get install postgresql-client-")


def test_missing_database_url_and_bad_credentials(provisioned, monkeypatch):
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: no STS, no S3
    failures, _ = _failures()
    assert set(failures) == {"database URL", "AWS credentials"}
    assert failures["database URL"][1].startswith("doppler secrets set DATABASE_URL=")


def test_dry_run_changes_nothing_and_a_second_provision_is_a_no_op(moto_server, s3):
    moto_server.reset()
    dry = run_cli("provision", "--sponsor", "titan", "--dry-run")
    assert dry.returncode == 0 and "Would change:" in dry.stdout
    assert (
        f"  {BACKUPS}: public access block: no public access block set -> all public access blocked "
        "(all four settings)\n" in dry.stdout
    )
    assert "None" not in dry.stdout
    assert s3.list_buckets()["Buckets"] == []

    first = run_cli("provision", "--sponsor", "titan")
    assert first.returncode == 0 and "Done: 10 change(s)" in first.stdout, first.stdout + first.stderr
    second = run_cli("provision", "--sponsor", "titan")
    assert second.returncode == 0
    assert (
        second.stdout.strip() == f"Nothing to change: {BACKUPS} and {AUDIT} already match what doctor checks."
    )


def test_provision_never_shortens_retention_or_weakens_a_lock(moto_server, s3):
    moto_server.reset()
    s3.create_bucket(
        Bucket=BACKUPS,
        CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
        ObjectLockEnabledForBucket=True,
    )
    s3.put_object_lock_configuration(
        Bucket=BACKUPS,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 10}},
        },
    )
    longer = {"ID": RULE_ID, "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 3650}}
    other = {
        "ID": "team-rule",
        "Status": "Enabled",
        "Filter": {"Prefix": "exports/"},
        "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}],
    }
    s3.put_bucket_lifecycle_configuration(Bucket=BACKUPS, LifecycleConfiguration={"Rules": [longer, other]})

    for change in plan_bucket(s3, BACKUPS, "eu-west-1", object_lock=("governance", 7)):
        change.apply()

    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=BACKUPS)["Rules"]}
    assert rules[RULE_ID]["Expiration"]["Days"] == 3650
    assert rules[RULE_ID]["Transitions"] == [{"Days": 90, "StorageClass": "DEEP_ARCHIVE"}]
    assert rules["team-rule"]["Transitions"] == [{"Days": 30, "StorageClass": "GLACIER"}]
    retention = s3.get_object_lock_configuration(Bucket=BACKUPS)["ObjectLockConfiguration"]["Rule"][
        "DefaultRetention"
    ]
    assert (retention["Mode"], retention["Years"]) == ("COMPLIANCE", 10)


def test_doctor_from_the_command_line_exit_status_and_json(provisioned):
    green = run_cli("doctor", "--sponsor", "titan", "--json", env={"ENABLE_S3_BACKUP_ARCHIVAL": "true"})
    assert green.returncode == 0, green.stdout + green.stderr
    rows = json.loads(green.stdout)
    assert {
        "sponsor": "titan",
        "environment": "production",
        "check": "feature flag",
        "status": "ok",
        "detail": "enabled (from environment ENABLE_S3_BACKUP_ARCHIVAL)",
        "fix": None,
    } in rows
    assert os.environ["DATABASE_URL"] not in green.stdout  # shown masked only when it has a password

    provisioned.delete_bucket_encryption(Bucket=BACKUPS)
    red = run_cli("doctor", "--sponsor", "titan")
    assert red.returncode == 1
    assert "❌ backups bucket encryption" in red.stdout
    assert f"       fix: {PROVISION_FIX}" in red.stdout
    # No flag set and no Prefect server: doctor says what `run` would decide, not "not checked".
    assert re.search(r"⚠️ +feature flag +disabled \(from default\)", red.stdout), red.stdout


def test_the_doctor_flow_reports_to_the_ui_and_fails_on_a_red_row(provisioned, prefect_harness):
    from prefect.client.orchestration import get_client

    from flows.doctor import doctor_flow
    from tests.flowhelpers import read_artifact

    green = doctor_flow(sponsor="titan", return_state=True)
    assert green.is_completed()
    with get_client(sync_client=True) as client:  # named after what it checks, not a random name
        assert client.read_flow_run(green.state_details.flow_run_id).name == "readiness-titan-production"
    assert "backups bucket lifecycle" in read_artifact("doctor").data

    provisioned.delete_public_access_block(Bucket=AUDIT)
    red = doctor_flow(sponsor="titan", return_state=True)
    assert red.is_failed()
    assert "audit bucket public access" in red.message and PROVISION_FIX in red.message


def test_doctor_shows_whose_identity_and_settings_each_sponsor_uses(provisioned, monkeypatch, seeded_db):
    """A worker whose environment is callisto's: titan with keys of its own is green, europa is red."""
    monkeypatch.delenv("SPONSOR")
    monkeypatch.setenv("TITAN_DATABASE_URL", seeded_db)
    monkeypatch.setenv("TITAN_AWS_ACCESS_KEY_ID", "titan-key")
    monkeypatch.setenv("TITAN_AWS_SECRET_ACCESS_KEY", "titan-secret")
    titan = {
        row.check: row
        for row in run_checks(resolve_config(sponsor="titan"), FlagDecision(True, "environment"))
    }
    assert titan["AWS credentials"].status == "ok"
    assert titan["AWS credentials"].detail.endswith("(from environment TITAN_AWS_ACCESS_KEY_ID)")
    assert titan["database URL"].detail.endswith("(from environment TITAN_DATABASE_URL)")

    europa = {
        row.check: row
        for row in run_checks(resolve_config(sponsor="europa"), FlagDecision(True, "environment"))
    }
    assert europa["AWS credentials"].status == "fail"
    assert europa["AWS credentials"].detail.startswith(
        "No AWS credentials are bound to sponsor europa: AWS_ACCESS_KEY_ID belongs to sponsor callisto"
    )
    assert europa["AWS credentials"].fix.startswith(
        "set EUROPA_AWS_ACCESS_KEY_ID and EUROPA_AWS_SECRET_ACCESS_KEY"
    )
    assert europa["database URL"].status == "fail"
    assert europa["database URL"].detail.startswith("No database URL is bound to sponsor europa")
    assert europa["database URL"].fix.startswith("set EUROPA_DATABASE_URL=")


EXAMPLE_SHAPED = """\
sponsors:
  - name: callisto          # the home sponsor, declaring its own prefix (as sponsors.example.yaml does)
    env_prefix: CALLISTO_
  - name: titan             # a block that is not on the server
    block: titan
  - name: europa            # a declared prefix that is not its own
    env_prefix: TENANT7_
"""


def test_doctor_agrees_with_the_runs_of_a_manifest_row_by_row(
    tmp_path, monkeypatch, seeded_db, prefect_harness
):
    """The user's case: the seed's names are set, the manifest declares CALLISTO_: callisto reads neither."""
    from flows.archive_all_sponsors import SponsorsFailed, archive_all_sponsors
    from hht_archival.doctor_targets import check_targets
    from hht_archival.flag_here import decide_here

    manifest = tmp_path / "sponsors.yaml"
    manifest.write_text(EXAMPLE_SHAPED)
    monkeypatch.delenv("SPONSOR")  # callisto is the home sponsor: the unprefixed names are its own...
    monkeypatch.setenv("ENABLE_S3_BACKUP_ARCHIVAL", "true")
    monkeypatch.setenv("DATABASE_URL", seeded_db)  # ...but its entry declares CALLISTO_, so they are not read
    monkeypatch.setenv("TENANT7_ENABLE_S3_BACKUP_ARCHIVAL", "yes")

    rows = check_targets(None, None, str(manifest), decide_here)
    doctor = {(row.sponsor, row.check): row for row in rows}
    with pytest.raises(SponsorsFailed) as ran:
        archive_all_sponsors(manifest=str(manifest))
    run = {row["sponsor"]: row for row in ran.value.summary}

    flag = doctor["callisto", "feature flag"]
    assert (flag.status, flag.detail) == (
        "warn",
        "disabled (from default): nothing sets CALLISTO_ENABLE_S3_BACKUP_ARCHIVAL or the Prefect variable "
        "enable-s3-backup-archival-callisto-production (a server is configured here); "
        "ENABLE_S3_BACKUP_ARCHIVAL is set but not read for callisto: its manifest entry declares the prefix "
        "CALLISTO_",
    )
    assert (run["callisto"]["status"], run["callisto"]["flag_source"]) == ("skipped", "default")
    url = doctor["callisto", "database URL"]
    assert url.detail == (
        "No database URL is bound to sponsor callisto (DATABASE_URL is not read for it: its manifest entry "
        "declares the prefix CALLISTO_); a run with archival enabled would stop here, so set "
        "CALLISTO_DATABASE_URL, or name a Secret block in callisto's sponsor block."
    )
    assert url.fix.startswith("set CALLISTO_DATABASE_URL=postgresql://")

    assert (
        doctor["europa", "feature flag"].detail
        == "enabled (from environment TENANT7_ENABLE_S3_BACKUP_ARCHIVAL)"
    )
    assert doctor["europa", "database URL"].detail == run["europa"]["reason"]  # the run's own sentence
    assert doctor["titan", "settings"].detail == run["titan"]["reason"]  # one sponsor's block stops only it
    assert run["titan"]["reason"].startswith("The Prefect block hht-sponsor-archival/titan does not exist")


def test_a_misspelt_sponsor_gets_the_closest_known_one_and_a_new_one_is_checked(moto_server, s3, monkeypatch):
    monkeypatch.setenv("EUROPA_DATABASE_URL", "postgresql://backup@db.internal/europa")  # europa is known
    typo = run_cli("doctor", "--sponsor", "titna")
    assert (typo.returncode, typo.stdout) == (2, "")
    assert typo.stderr == (
        "❌ Sponsor titna is not known here (it is not SPONSOR, not in sponsors.yaml, and no TITNA_* "
        "variable is set); did you mean titan? Run: hht-archival doctor --sponsor titan\n"
    )
    assert (
        "did you mean europa? Run: hht-archival doctor --sponsor europa"
        in run_cli("doctor", "--sponsor", "europe").stderr
    )
    moto_server.reset()
    provision = run_cli("provision", "--sponsor", "titna")
    assert provision.returncode == 2 and "did you mean titan?" in provision.stderr
    assert s3.list_buckets()["Buckets"] == []  # nothing was created for the typo

    new = run_cli("doctor", "--sponsor", "ganymede")  # nothing near it: a new sponsor, told what to set
    assert new.returncode == 1
    assert "fix: set GANYMEDE_DATABASE_URL=postgresql://USER@HOST/DB" in new.stdout
    assert "nothing sets GANYMEDE_ENABLE_S3_BACKUP_ARCHIVAL" in new.stdout


def test_after_provision_doctor_shows_what_the_readme_promises(moto_server, s3, seeded_db):
    """The README's first real run: after provision, no ❌, and exactly the ⚠️ rows it lists."""
    moto_server.reset()
    assert run_cli("provision").returncode == 0
    done = run_cli("doctor", "--json", env={"DATABASE_URL": seeded_db})
    assert done.returncode == 0, done.stdout + done.stderr
    rows = json.loads(done.stdout)
    assert [row["check"] for row in rows if row["status"] == "fail"] == []
    advice = [row["check"] for row in rows if row["status"] == "warn"]
    assert advice == [
        "feature flag",
        "backups bucket object lock",
        "backups bucket reads",
        "audit bucket object lock",
        "nightly manifest",
        "restore drills",
        "alerts",
    ]
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    promise = readme[readme.index("## Your first real run") : readme.index("## Where to read on")]
    assert f"{len(advice)} ⚠️" in promise
    for check in advice:
        assert f"`{check}`" in promise, check


def test_doctor_says_the_backups_cannot_be_read_when_s3_refuses(provisioned, s3_proxy):
    s3_proxy.fail(
        lambda m, p, q: m == "GET" and p.startswith(f"/{BACKUPS}/backups/"), status=403, code="AccessDenied"
    )
    _, rows = _failures()
    [reads] = [row for row in rows if row.check == "backups bucket reads"]
    assert (reads.status, reads.detail) == (
        "ok",
        f"refused under s3://{BACKUPS}/backups/ (AccessDenied): this identity cannot read the backups, "
        "as the archival role must not",
    )
    [probe] = [row for row in rows if row.check == "backups bucket permissions"]
    assert probe.detail == (
        "its own probe under doctor/ written, tagged and read back (the archival role may GetObject under "
        "doctor/ only)"
    )
