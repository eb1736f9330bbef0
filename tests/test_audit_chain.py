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
