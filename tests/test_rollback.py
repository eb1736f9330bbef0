"""The seed's rollback: after an archived run, every way of turning the flag off stops the next run.

The next run must make no S3 request at all, write a local-only log saying it was skipped and
why (``flag_source``), show the banner, and leave what the earlier run archived untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey
from prefect.variables import Variable

from tests.conftest import AUDIT, BACKUPS, SPONSOR, log_files
from tests.flowhelpers import get_tags, run_flow, save_sponsor_block

pytestmark = pytest.mark.usefixtures("prefect_harness")

FLAG = "ENABLE_S3_BACKUP_ARCHIVAL"
VARIABLE = "enable-s3-backup-archival-titan-production"
BLOCK = "titan-rollback-test"
BANNER_KEY = "s3-archival-disabled-titan-production"


def _env_false(request, monkeypatch, s3_proxy, db_url) -> dict:
    monkeypatch.setenv(FLAG, "false")
    return {}


def _env_deleted(request, monkeypatch, s3_proxy, db_url) -> dict:
    monkeypatch.delenv(FLAG)
    return {}


def _prefect_variable(request, monkeypatch, s3_proxy, db_url) -> dict:
    monkeypatch.delenv(FLAG)  # the environment beats the variable, so it must be unset
    # What `prefect variable set enable-s3-backup-archival-titan-production false --overwrite`
    # stores: the CLI parses the value as JSON, so a boolean.
    Variable.set(VARIABLE, False, overwrite=True)
    request.addfinalizer(lambda: Variable.unset(VARIABLE))
    return {}


def _sponsor_block(request, monkeypatch, s3_proxy, db_url) -> dict:
    from blocks.sponsor import SponsorArchival

    assert os.environ[FLAG] == "true"  # the environment still says on: the block overrides it
    save_sponsor_block(BLOCK, s3_proxy.endpoint, db_url, enabled=False)
    request.addfinalizer(lambda: SponsorArchival.delete(BLOCK))
    return {"sponsor_block": BLOCK}


# way of turning archival off -> (what to do, the flag_source the skipped run must report)
WAYS = {
    "env-set-false": (_env_false, "environment"),
    # Deleting the variable leaves no source at all: the run reports `default` (off), as the
    # docs/operating.md's troubleshooting section says ("default means no source was seen").
    "env-deleted": (_env_deleted, "default"),
    "prefect-variable-false": (_prefect_variable, "prefect-variable"),
    "sponsor-block-false": (_sponsor_block, "block"),
}


def _versions(client, bucket: str) -> tuple[list[tuple[str, str]], list]:
    listing = client.list_object_versions(Bucket=bucket)
    versions = sorted((v["Key"], v["VersionId"]) for v in listing.get("Versions", []))
    return versions, listing.get("DeleteMarkers", [])


def _banner_of(flow_run_id) -> str | None:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[BANNER_KEY]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
            )
        )
    return found[0].data if found else None


@pytest.mark.parametrize("way", list(WAYS))
def test_turning_the_flag_off_makes_the_next_run_skip_s3_and_keeps_the_archive(
    way, request, s3, s3_proxy, seeded_db, tmp_path, monkeypatch
):
    switch_off, expected_source = WAYS[way]
    monkeypatch.setenv("DATABASE_URL", seeded_db)
    monkeypatch.setenv(FLAG, "true")

    archived, first_run_id = run_flow(sponsor="titan")
    assert isinstance(archived, dict), archived
    assert archived["status"] == "archived" and archived["flag_source"] == "environment"
    assert _banner_of(first_run_id) is None
    backup_key = archived["backup_location"].split("/", 3)[3]
    roles_key = archived["roles_location"].split("/", 3)[3]  # beside the backup
    log_key = archived["log_location"].split("/", 3)[3]
    backups_before, audit_before = _versions(s3, BACKUPS), _versions(s3, AUDIT)
    assert [key for key, _ in backups_before[0]] == [roles_key, backup_key] and backups_before[1] == []
    tags_before = get_tags(s3, BACKUPS, backup_key)
    first_local_log = Path(archived["local_log"]).read_text()

    params = switch_off(request, monkeypatch, s3_proxy, seeded_db)
    s3_proxy.clear()
    skipped, flow_run_id = run_flow(sponsor="titan", **params)

    assert s3_proxy.requests == []  # not one request to S3, not even a HEAD
    assert isinstance(skipped, dict), skipped
    local = json.loads(Path(skipped["local_log"]).read_text())
    assert local == {k: v for k, v in skipped.items() if k != "local_log"}
    assert local["status"] == "skipped" and local["error"] is None
    assert local["s3_archival_enabled"] is False
    assert local["flag_source"] == expected_source
    assert local["log_location"] == "local-only"
    assert local["backup_location"] == "not-configured" and local["backup_size"] == 0
    assert local["backup_sha256"] is None
    assert log_files(tmp_path / "logs" / SPONSOR) == sorted(
        [Path(archived["local_log"]), Path(skipped["local_log"])]
    )
    assert Path(archived["local_log"]).read_text() == first_local_log

    banner = _banner_of(flow_run_id)
    assert banner is not None and "S3 BACKUP ARCHIVAL NOT YET ENABLED" in banner
    assert BACKUPS in banner and AUDIT in banner

    # The earlier archive: same single version, same bytes, same tags; its log still there.
    assert (_versions(s3, BACKUPS), _versions(s3, AUDIT)) == (backups_before, audit_before)
    body = s3.get_object(Bucket=BACKUPS, Key=backup_key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == archived["backup_sha256"]
    assert get_tags(s3, BACKUPS, backup_key) == tags_before
    assert s3.head_object(Bucket=AUDIT, Key=log_key)["ContentLength"] > 0
