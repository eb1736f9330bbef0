"""The evidence report an inspector reads: a year of archives, a broken link, a cold log, failures, drills.

A year is written fast through the code that writes it (tests/support/history.py:
the run's keys, logs linked into the hash chain, tagged backups, the drill's
report writer), plus one real archive of a real database. The report is made
as a user makes it (the command, S3 alone), and read as an inspector would:
does it name each thing that happened, do its JSON and its page agree, do its
pictures open, and is it kept in the audit bucket with its retention.
"""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from html import escape

import pytest

from blocks.config import resolve_config
from tests.conftest import AUDIT, run_cli
from tests.support.history import freeze, write_drill, write_history

TODAY = datetime.now(UTC).date()
FIRST = TODAY - timedelta(days=365)
MISSING = {FIRST + timedelta(days=d) for d in (40, 41, 42)}  # nothing ran: a gap
FAILED = {FIRST + timedelta(days=d) for d in (100, 101)}  # one incident of two failed runs
SMALL = {FIRST + timedelta(days=200)}  # a backup a tenth of the others: anomalous
COLD = FIRST + timedelta(days=30)
EDITED = FIRST + timedelta(days=300)


def _year(s3, config) -> dict:
    days = [FIRST + timedelta(days=d) for d in range(365)]
    write_history(s3, config, [d for d in days if d not in MISSING], failed=FAILED, small=SMALL)
    logs = {d: f"deployments/{d:%Y/%m/%d}/deployment-prod-{d:%Y%m%d}-020000.json" for d in days}
    backups = {d: f"backups/{d:%Y/%m/%d}/backup-prod-{d:%Y%m%d}-020000.sql.gz" for d in days}
    drills = {
        "passed": write_drill(
            s3, config, FIRST + timedelta(days=60), backups[FIRST + timedelta(days=60)], True
        ),
        "failed": write_drill(
            s3, config, FIRST + timedelta(days=250), backups[FIRST + timedelta(days=250)], False
        ),
    }
    freeze(s3, AUDIT, logs[COLD])  # what the lifecycle rule does at day 90
    edited = json.loads(s3.get_object(Bucket=AUDIT, Key=logs[EDITED])["Body"].read())
    s3.put_object(Bucket=AUDIT, Key=logs[EDITED], Body=json.dumps({**edited, "backup_size": 1}).encode())
    return {"logs": logs, "backups": backups, "drills": drills}


@pytest.mark.usefixtures("prefect_harness")
def test_a_years_report_names_every_backup_the_break_the_cold_log_the_failures_drills_and_gaps(
    s3, seeded_db, monkeypatch, tmp_path
):
    from tests.flowhelpers import run_flow

    config = resolve_config(sponsor="titan", environment="production")
    year = _year(s3, config)
    monkeypatch.setenv("DATABASE_URL", seeded_db)
    real, _ = run_flow(sponsor="titan", enabled=True)  # a real archive today, linked after the year
    assert real["status"] == "archived", real

    out = tmp_path / "report.html"
    done = run_cli(
        "evidence", "--sponsor", "titan", "--environment", "production",
        "--from", FIRST.isoformat(), "--to", TODAY.isoformat(), "--out", str(out), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    html = out.read_text()

    # every backup, the real one too, each with its SHA-256, size, storage class and retention
    keys = [b["backup_key"] for b in facts["backups"]]
    assert len(keys) == 365 - len(MISSING) - len(FAILED) + 1
    assert real["backup_location"].split("/", 3)[3] in keys
    for backup in facts["backups"]:
        for shown in (backup["backup_key"], backup["sha256"], f"{backup['size']:,}", backup["retention"]):
            assert escape(shown) in html, shown
    assert facts["backups"][0]["retention"].endswith(
        "no Object Lock of its own: versioning and the lifecycle rule keep it"
    )
    # the broken link, named
    [problem] = facts["chain"]["problems"]
    assert problem.startswith(f"{year['logs'][EDITED]} was changed after") and escape(problem) in html
    # the cold log, and how to thaw it; its backup's facts still there, from its metadata
    assert facts["chain"]["cold_logs"] == [year["logs"][COLD]]
    thaw = "hht-archival verify --logs --sponsor titan --environment production --request-glacier-restore"
    assert year["logs"][COLD] in html and thaw in html
    [cold] = [b for b in facts["backups"] if b["log_key"] == year["logs"][COLD]]
    assert cold["log_read"] == "cold: facts from its metadata" and cold["sha256"] and cold["flag_source"]
    # the failed runs (one incident, recovered) and the anomalous backup
    failed = [i for i in facts["incidents"] if i["kind"] == "failed"]
    assert [(i["start"][:10], i["runs"], i["recovery"][:10]) for i in failed] == [
        (min(FAILED).isoformat(), 2, (max(FAILED) + timedelta(days=1)).isoformat())
    ]
    assert "the database was not reachable" in failed[0]["message"] and escape(failed[0]["message"]) in html
    # (the real archive's tables are not the made-up year's: it is anomalous too, as its run would say)
    [anomalous] = [
        i for i in facts["incidents"] if i["kind"] == "anomalous" and i["start"] < TODAY.isoformat()
    ]
    assert anomalous["start"][:10] == min(SMALL).isoformat() and escape(anomalous["message"]) in html
    assert "10% of the median" in anomalous["message"]
    # both drills
    drills = {d["status"]: d for d in facts["drills"]}
    assert set(drills) == {"passed", "failed"}
    assert drills["passed"]["rows"] == 3124 and "3,124 rows in 3 tables" in html
    assert escape(drills["failed"]["error"]) in html and drills["failed"]["key"] in html
    # the gaps: the three missing days, the two failed ones
    gaps = {(g["from"], g["to"]) for g in facts["gaps"]}
    assert (min(MISSING).isoformat(), max(MISSING).isoformat()) in gaps
    assert (min(FAILED).isoformat(), max(FAILED).isoformat()) in gaps
    for gap in facts["gaps"]:
        assert f"<td>{gap['from']}</td><td>{gap['to']}</td><td>{gap['days']}</td>" in html
    # S3 alone: no Prefect server in the command's environment, and the report says so
    assert "no Prefect server is configured" in facts["sources"]["prefect_server"]
    # the pictures: valid SVG
    svgs = re.findall(r"<svg\b.*?</svg>", html, re.S)
    assert len(svgs) == 3
    assert all(ET.fromstring(svg).tag == "{http://www.w3.org/2000/svg}svg" for svg in svgs)  # noqa: S314 (our own)
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/", "")  # no network
    # the report itself is evidence: in the audit bucket, tagged for 7 years, its SHA-256 the one printed
    report = facts["report"]
    key = report["location"].split("/", 3)[3]
    assert key.startswith(f"evidence/{TODAY:%Y/%m/%d}/evidence-prod-{FIRST:%Y%m%d}-{TODAY:%Y%m%d}-")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == report["sha256"]
    stored = s3.get_object(Bucket=AUDIT, Key=key)["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == report["sha256"]
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=AUDIT, Key=key)["TagSet"]}
    assert tags["retention-years"] == "7" and tags["sha256"] == report["sha256"]
    assert tags["retain-until"] == report["retain_until"] == f"{TODAY.year + 7}-{TODAY:%m-%d}"
    stored_facts = json.loads(
        s3.get_object(Bucket=AUDIT, Key=report["facts_location"].split("/", 3)[3])["Body"].read()
    )
    assert stored_facts == facts


def test_the_report_reads_only_what_the_reader_policy_allows_and_no_backup(s3, s3_proxy):
    """Every S3 request of a report (listings, the logs, the drills, storing it) is one the
    `iam-policy --reader` policy grants, and none reads a backup's bytes or state."""
    from hht_archival.adapters.s3 import client_for
    from hht_archival.evidence.report import build, store
    from hht_archival.iam import reader_policy
    from tests.support.iam_eval import allows
    from tests.test_iam_policy import iam_request

    config = resolve_config(sponsor="titan", environment="production")
    days = [TODAY - timedelta(days=d) for d in range(1, 8)]
    write_history(s3, config, days, failed={days[2]})
    write_drill(s3, config, days[1], "backups/x.sql.gz", True)
    freeze(s3, AUDIT, f"deployments/{days[-1]:%Y/%m/%d}/deployment-prod-{days[-1]:%Y%m%d}-020000.json")
    s3_proxy.clear()
    client = client_for(config)  # through the proxy, which records each request
    facts, html = build(client, config, days[-1], TODAY)
    store(client, config, facts, html, datetime.now(UTC).replace(microsecond=0))
    policy = reader_policy("titan", config.backups_bucket, config.audit_logs_bucket)
    requests = s3_proxy.requests
    assert requests
    for method, path, query in requests:
        for action, arn in iam_request(method, path, {k: v[0] if v else "" for k, v in query.items()}):
            assert allows(policy, action, arn), (method, path, query, action)
            assert not (action == "s3:GetObject" and "/backups/" in arn), (method, path)


@pytest.mark.usefixtures("prefect_harness")
def test_the_quarterly_flow_stores_each_report_shows_its_summary_and_link_and_the_servers_crashed_run(s3):
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.states import Crashed

    from flows.evidence import archive_evidence, period

    config = resolve_config(sponsor="titan", environment="production")
    write_history(s3, config, [TODAY - timedelta(days=d) for d in range(1, 6)])

    @flow(name="archive-sponsor")
    def archive_sponsor_crashed():  # only its name and state matter: a run whose process died
        pass

    with get_client(sync_client=True) as client:
        client.create_flow_run(
            archive_sponsor_crashed,
            name="archive-titan-production",
            state=Crashed(message="Flow run infrastructure exited with non-zero status code -9."),
        )
    state = archive_evidence(
        sponsor="titan",
        environment="production",
        first_day=(TODAY - timedelta(days=5)).isoformat(),
        last_day=TODAY.isoformat(),
        return_state=True,
    )
    assert state.is_completed(), state.message
    [made] = state.result()
    stored = s3.get_object(Bucket=AUDIT, Key=made["location"].split("/", 3)[3])["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == made["sha256"]
    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["evidence-titan-production"])),
            limit=1,
        )
    assert made["location"] in artifact.data and made["sha256"] in artifact.data
    assert "open at http://127.0.0.1:" in artifact.data  # a link that opens the report
    facts = json.loads(
        s3.get_object(Bucket=AUDIT, Key=made["facts_location"].split("/", 3)[3])["Body"].read()
    )
    crashed = [i for i in facts["incidents"] if i["kind"] == "crashed"]
    assert crashed and crashed[0]["sources"] == ["Prefect server"], (facts["incidents"], facts["sources"])
    assert "exited with non-zero status code -9" in crashed[0]["message"]

    assert period("", "", date(2026, 2, 10)) == (date(2025, 10, 1), date(2025, 12, 31))  # the last quarter
    assert period("", "", date(2026, 7, 1)) == (date(2026, 4, 1), date(2026, 6, 30))
