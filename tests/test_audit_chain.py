"""The deployment logs' hash chain: real runs link their logs, and `verify --logs` finds gaps and edits."""

from __future__ import annotations

import hashlib
import json

import pytest

from hht_archival.chain_verify import verify_chain
from tests.conftest import AUDIT, run_cli
from tests.flowhelpers import run_flow
from tests.support.s3server import list_keys

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _logs(s3) -> list[str]:
    return sorted(k for k in list_keys(s3, AUDIT) if k.startswith("deployments/"))


def test_each_log_links_the_previous_one_and_verify_reports_edits_and_removals(s3, seeded_db, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", seeded_db)
    for _ in range(3):
        result, _ = run_flow(sponsor="titan", enabled=True)
        assert result["status"] == "archived"
    run_flow(sponsor="titan", environment="staging", enabled=True)  # another environment: its own chain

    keys = [k for k in _logs(s3) if "-prod-" in k]
    assert len(keys) == 3
    bodies = [s3.get_object(Bucket=AUDIT, Key=k)["Body"].read() for k in keys]
    records = [json.loads(b) for b in bodies]
    assert records[0]["previous_log"] is None and records[0]["previous_log_sha256"] is None
    for before, key, record in zip(bodies, keys, records[1:], strict=False):
        assert record["previous_log"] == key
        assert record["previous_log_sha256"] == hashlib.sha256(before).hexdigest()

    report = verify_chain(s3, AUDIT, "production")
    assert (report.logs, report.chained, report.problems) == (3, 3, [])
    assert verify_chain(s3, AUDIT, "staging").intact

    edited = json.dumps({**records[0], "status": "failed"}, indent=2).encode()
    s3.put_object(Bucket=AUDIT, Key=keys[0], Body=edited)
    assert verify_chain(s3, AUDIT, "production").problems == [
        f"{keys[0]} was changed after {keys[1]} was written (its SHA-256 is "
        f"{hashlib.sha256(edited).hexdigest()}, the chain recorded {records[1]['previous_log_sha256']})."
    ]
    s3.put_object(Bucket=AUDIT, Key=keys[0], Body=bodies[0])  # put back exactly: intact again
    assert verify_chain(s3, AUDIT, "production").intact

    s3.delete_object(Bucket=AUDIT, Key=keys[1])
    done = run_cli("verify", "--logs", "--sponsor", "titan", "--environment", "production")
    assert done.returncode == 1
    assert (
        f"❌ {keys[2]} follows {keys[1]}, but the log before it in the bucket is {keys[0]}: "
        "a log was removed or added between them." in done.stdout
    )
    assert "hash chain" in done.stderr and "broken in 1 place" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def _log(day: str) -> str:
    return f"deployments/2026/{day[:2]}/{day[2:]}/deployment-prod-2026{day}-020000.json"


def test_the_next_link_needs_no_old_log_read_and_no_listing_of_the_history(s3, s3_proxy, moto_server):
    """The chain head names the newest log; what was written after it (a run that died before
    moving it) is found by one listing after it; logs from before chain heads are found once."""
    from hht_archival.adapters.s3 import make_client
    from hht_archival.audit_chain import Link, advance_head, previous_link

    client = make_client("eu-west-1")  # through the proxy, which counts
    bodies = {day: json.dumps({"day": day}).encode() for day in ("0101", "0201", "0301")}
    for day, body in bodies.items():
        s3.put_object(Bucket=AUDIT, Key=_log(day), Body=body)  # as older versions wrote them: no metadata
    nxt = _log("0401")
    sha = {day: hashlib.sha256(body).hexdigest() for day, body in bodies.items()}

    # no chain head yet: every log listed once, the newest hashed (it is hot)
    assert previous_link(client, AUDIT, "production", nxt, "titan") == Link(_log("0301"), sha["0301"])

    # a chain head left on 0201 (the run of 0301 died before moving it), 0301 now cold with its metadata
    advance_head(
        client, AUDIT, "production", _log("0201"), sha["0201"], sponsor="titan", tags={}, kms_key_id=None
    )
    s3.copy_object(
        Bucket=AUDIT,
        Key=_log("0301"),
        CopySource={"Bucket": AUDIT, "Key": _log("0301")},
        StorageClass="DEEP_ARCHIVE",
        Metadata={"sha256": sha["0301"]},
        MetadataDirective="REPLACE",
    )
    s3_proxy.clear()
    assert previous_link(client, AUDIT, "production", nxt, "titan") == Link(_log("0301"), sha["0301"])
    listings = [q for m, _, q in s3_proxy.requests if m == "GET" and "list-type" in q]
    assert [q.get("start-after") for q in listings] == [_log("0201")]
    assert not any(m == "GET" and "list-type" not in q for m, _, q in s3_proxy.requests)  # no log read

    # the chain head up to date: a HEAD and a listing that finds nothing after it
    advance_head(
        client, AUDIT, "production", _log("0301"), sha["0301"], sponsor="titan", tags={}, kms_key_id=None
    )
    s3_proxy.clear()
    assert previous_link(client, AUDIT, "production", nxt, "titan") == Link(_log("0301"), sha["0301"])
    assert [m for m, *_ in s3_proxy.requests] == ["HEAD", "GET"]


def test_an_old_cold_log_with_no_readable_sha256_stops_the_link_in_one_sentence(s3):
    from hht_archival.audit_chain import previous_link
    from hht_archival.errors import ArchivalError

    s3.put_object(Bucket=AUDIT, Key=_log("0101"), Body=b"{}", StorageClass="DEEP_ARCHIVE")
    with pytest.raises(ArchivalError) as info:
        previous_link(s3, AUDIT, "production", _log("0401"), "titan")
    assert str(info.value) == (
        f"The previous deployment log {_log('0101')} of sponsor titan is in cold storage and was written "
        "before logs kept their SHA-256 where HEAD can read it, so it cannot be linked unread; run "
        "hht-archival verify --logs --sponsor titan --environment production --request-glacier-restore, "
        "then archive again once it is readable (up to 48 hours)."
    )
