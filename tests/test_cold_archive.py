"""Seven years, not ninety days: an archive whose backups and logs went to DEEP_ARCHIVE stays whole.

Objects are moved to DEEP_ARCHIVE as the lifecycle rule does at day 90: a copy
onto themselves with that storage class (moto then refuses GetObject and
GetObjectTagging with InvalidObjectState, as S3 refuses GetObject; HEAD still
answers). moto's restore_object makes an object readable at once.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest

from blocks.config import resolve_config
from blocks.flag import FlagDecision
from hht_archival.audit_chain import advance_head
from hht_archival.chain_verify import verify_chain
from hht_archival.doctor import run_checks
from hht_archival.errors import ArchivalError
from hht_archival.restore import restore_backup
from tests.conftest import AUDIT, BACKUPS, run_cli
from tests.flowhelpers import run_flow
from tests.support.pgcluster import table_snapshot

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _freeze(s3, bucket: str, key: str) -> None:
    """What the lifecycle rule does at day 90 (metadata, tags and checksum go along)."""
    s3.copy_object(
        Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key}, StorageClass="DEEP_ARCHIVE"
    )


def _key(location: str) -> str:
    return location.split("/", 3)[3]


def _archive(monkeypatch, database: str) -> dict:
    monkeypatch.setenv("DATABASE_URL", database)
    log, _ = run_flow(sponsor="titan", enabled=True)
    assert isinstance(log, dict) and log["status"] == "archived", log
    return log


def test_an_archive_gone_cold_is_linked_verified_and_restored(
    s3, s3_proxy, seeded_db, empty_db, monkeypatch, tmp_path
):
    original = table_snapshot(seeded_db)
    first = _archive(monkeypatch, seeded_db)
    first_log = _key(first["log_location"])
    first_bytes = s3.get_object(Bucket=AUDIT, Key=first_log)["Body"].read()
    backup = _key(first["backup_location"])
    for bucket, key in (
        (BACKUPS, backup),
        (BACKUPS, _key(first["roles_location"])),
        (AUDIT, first_log),
        (AUDIT, "deployments/chain-head-prod.json"),  # no run for 90 days: the chain head went cold too
    ):
        _freeze(s3, bucket, key)

    s3_proxy.clear()
    second = _archive(monkeypatch, seeded_db)

    # linked by key and SHA-256 of the cold log's bytes, which were never read
    assert second["previous_log"] == first_log
    assert second["previous_log_sha256"] == hashlib.sha256(first_bytes).hexdigest()
    reads = [(m, p) for m, p, q in s3_proxy.requests if m == "GET" and p.endswith(first_log) and not q]
    assert reads == []

    # a thawed backup restores while its log is still cold, checked against its own tag
    config = resolve_config(sponsor="titan")
    with pytest.raises(ArchivalError, match="is in DEEP_ARCHIVE and cannot be read yet"):
        restore_backup(s3, config, backup, empty_db, tmp_path)
    with pytest.raises(ArchivalError, match="Started the Glacier restore"):
        restore_backup(s3, config, backup, empty_db, tmp_path, request_glacier_restore=True)
    done = run_cli("restore", "--sponsor", "titan", "--backup", backup, env={"RESTORE_TARGET_URL": empty_db})
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"sha256 {first['backup_sha256']} verified before restore" in done.stdout
    assert "Its deployment log is in cold storage" in done.stdout
    assert table_snapshot(empty_db) == original
    assert s3.head_object(Bucket=AUDIT, Key=first_log).get("Restore") is None  # the log stayed cold

    # verify --logs names the cold log, checks the link to it, and offers its restore
    shown = run_cli("verify", "--logs", "--sponsor", "titan", "--environment", "production")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "1 deployment log(s) in cold storage (DEEP_ARCHIVE) could not be read" in shown.stdout
    assert f"     {first_log}\n" in shown.stdout
    assert "--request-glacier-restore" in shown.stdout
    assert "denied" not in shown.stdout.lower() + shown.stderr.lower()
    listed = run_cli("list", "--sponsor", "titan", "--logs")
    assert listed.returncode == 0, listed.stderr
    # a log's own SHA-256 (not its backup's), from its metadata by HEAD: the cold log's tags cannot be read
    assert f"sha256 {hashlib.sha256(first_bytes).hexdigest()}  {first_log}" in listed.stdout
    assert (
        "in DEEP_ARCHIVE: a Glacier Deep Archive restore takes up to 12 hours (Standard) or 48 hours (Bulk); "
        "hht-archival verify --logs --request-glacier-restore starts it" in listed.stdout
    )
    report = verify_chain(s3, AUDIT, "production")
    assert (report.logs, report.cold, report.problems) == (2, [first_log], [])
    s3.put_object(Bucket=AUDIT, Key=first_log, Body=first_bytes.replace(b"archived", b"failed"))
    assert verify_chain(s3, AUDIT, "production").problems  # the link *to* the log is still checked
    s3.put_object(Bucket=AUDIT, Key=first_log, Body=first_bytes)
    _freeze(s3, AUDIT, first_log)

    asked = run_cli(
        "verify", "--logs", "--sponsor", "titan", "--environment", "production", "--request-glacier-restore"
    )
    assert asked.returncode == 0 and "Asked Glacier to restore the 1 deployment log(s)" in asked.stdout
    after = verify_chain(s3, AUDIT, "production")  # moto restores at once
    assert (after.logs, after.chained, after.cold, after.unchecked, after.problems) == (2, 2, [], 0, [])

    # doctor: the newest log and the chain head cold is not a permission problem
    for key in (_key(second["log_location"]), "deployments/chain-head-prod.json"):
        _freeze(s3, AUDIT, key)
    rows = {row.check: row for row in run_checks(config, FlagDecision(True, "parameter"))}
    chain = rows["audit bucket log chain"]
    assert (chain.status, chain.detail) == ("ok", f"the next log will follow {_key(second['log_location'])}")


def test_a_runs_s3_requests_do_not_grow_with_thousands_of_logs(s3, s3_proxy, seeded_db, monkeypatch):
    """2,500 logs span three pages of a listing (S3 lists 1,000 keys a page): reading or listing the
    logs would show as more requests. A larger count (10,000 before) only made the set-up slower."""

    def put_log(hours: int) -> tuple[str, str]:  # a log of an earlier run, its SHA-256 in its metadata
        moment = datetime(2016, 1, 1, 2) - timedelta(hours=hours)
        key = f"deployments/{moment:%Y/%m/%d}/deployment-prod-{moment:%Y%m%d-%H%M%S}.json"
        body = json.dumps({"status": "archived", "timestamp": moment.isoformat()}).encode()
        sha256 = hashlib.sha256(body).hexdigest()
        s3.put_object(Bucket=AUDIT, Key=key, Body=body, Metadata={"sha256": sha256})
        return key, sha256

    def one_run() -> list[tuple[str, str]]:
        s3_proxy.clear()
        _archive(monkeypatch, seeded_db)
        return sorted((m, ",".join(sorted(set(q) - {"x-id"}))) for m, _, q in s3_proxy.requests)

    newest, sha256 = put_log(0)  # and the chain head its run left, naming it
    advance_head(s3, AUDIT, "production", newest, sha256, sponsor="titan", tags={}, kms_key_id=None)
    with_one = one_run()
    with ThreadPoolExecutor(max_workers=8) as pool:  # the test's set-up: 2,500 small PUTs at once
        list(pool.map(put_log, range(1, 2_501)))
    with_many = one_run()

    listings = sum(m == "GET" and "list-type" in q for m, q in with_many)
    print(
        f"\nS3 requests of one archive run: {len(with_one)} with 1 log in the bucket, "
        f"{len(with_many)} with 2,502 ({listings} of them a listing)"
    )
    assert with_many == with_one
