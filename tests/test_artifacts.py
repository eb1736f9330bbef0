"""The run artifacts as an auditor reads them in the Prefect UI: the markdown and rows, pinned.

No servers: these are the words and links only (tests/test_flow.py reads them back through the API
after a real run). Why lists rather than tables for a run's facts: flows/artifact_text.py.
"""

from __future__ import annotations

import pytest
from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

from flows.artifact_text import backup_markdown, log_markdown, run_link
from flows.run_artifacts import summary_row

RUN = "0f9d3a52-6c1e-4c43-9a57-3f2b1c0d8e71"
KEY = "backups/2026/03/01/backup-prod-20260301-020004.sql.gz"
RECORD = {
    "schema_version": 5,
    "sponsor": "titan",
    "environment": "production",
    "status": "archived",
    "s3_archival_enabled": True,
    "flag_source": "environment",
    "backup_location": f"s3://hht-diary-backups-titan-eu-west-1/{KEY}",
    "backup_size": 12_894_211,
    "backup_uncompressed_size": 50_437_120,
    "backup_sha256": "9f" * 32,
    "roles_location": None,
    "upload_parts": 0,
    "s3_retries": None,
    "stream_attempts": 1,
    "log_location": "s3://hht-diary-audit-logs-titan-eu-west-1/deployments/2026/03/01/deployment-prod-20260301"
    "-020004.json",
    "region": "eu-west-1",
    "backups_bucket": "hht-diary-backups-titan-eu-west-1",
    "audit_logs_bucket": "hht-diary-audit-logs-titan-eu-west-1",
    "database": "postgresql://backup:***@db.internal/titan",
    "retain_until": "2033-03-01",
    "object_lock_retain_until": None,
    "table_counts": {"public.diary_entries": 500},
    "deployment": {},
    "settings_sources": {"database": "environment TITAN_DATABASE_URL"},
    "steps": [{"step": "dump", "seconds": 1.24, "detail": None}],
    "flow_run_id": RUN,
    "started_at": "2026-03-01T02:00:04Z",
    "finished_at": "2026-03-01T02:00:09Z",
    "error": None,
}


def test_the_backup_reads_whole_with_units_its_lock_state_and_a_console_link_on_aws():
    with temporary_settings(restore_defaults={PREFECT_UI_URL, PREFECT_API_URL}):  # no server known
        shown = backup_markdown(RECORD, "https://s3.eu-west-1.amazonaws.com")
    assert shown.splitlines()[:5] == [
        "### Backup of titan (production)",
        "",
        f"- **Backup:** `s3://hht-diary-backups-titan-eu-west-1/{KEY}` ([open in the AWS console]"
        "(https://eu-west-1.console.aws.amazon.com/s3/object/hht-diary-backups-titan-eu-west-1?region=eu-west-1"
        f"&prefix={KEY}))",
        "- **Size:** 12.3 MiB (12,894,211 bytes); 48.1 MiB (50,437,120 bytes) before compression",
        f"- **SHA-256:** `{'9f' * 32}` (of the stored bytes, checked by S3 on upload)",
    ]
    assert (
        "- **Retention:** tagged for 7 years (retain-until 2033-03-01); not locked (the backups bucket has "
        "no Object Lock, so S3 does not stop a deletion)"
    ) in shown
    assert f"- **Deployment log:** `{RECORD['log_location']}`" in shown  # whole, not in a table cell
    assert "- **Rows:** 500 rows in 1 table" in shown and "| |" not in shown
    assert f"- **Flow run:** `{RUN}`" in shown  # no server known: the id, not a guessed link

    locked = backup_markdown({**RECORD, "object_lock_retain_until": "2033-03-02T00:00:00Z"}, None)
    assert (
        "- **Retention:** retained until 2033-03-02 00:00 UTC by Object Lock COMPLIANCE; tagged for 7 years "
        "(retain-until 2033-03-01)"
    ) in locked


def test_on_another_s3_the_link_opens_the_object_at_its_endpoint():
    shown = backup_markdown(RECORD, "http://minio.internal:9000")
    assert (
        f"([open at http://minio.internal:9000](http://minio.internal:9000/hht-diary-backups-titan-eu-west-1/{KEY}))"
        in shown
    )
    assert "amazon" not in shown


def test_a_run_on_a_server_links_to_its_ui_and_the_embedded_apis_does_not():
    """A worker's run knows its server's API: the UI is served at the same address (PREFECT_UI_URL
    says otherwise where it is not). The embedded API's address is gone once the command ends."""
    import hht_archival.engine as engine

    with temporary_settings(
        {PREFECT_API_URL: "http://prefect.internal:4200/api"}, restore_defaults={PREFECT_UI_URL}
    ):
        assert run_link(RUN) == f"[{RUN}](http://prefect.internal:4200/runs/flow-run/{RUN})"
        engine._embedded_url = "http://prefect.internal:4200/api"
        try:
            assert run_link(RUN) == f"`{RUN}`"
        finally:
            engine._embedded_url = None


def test_flow_runs_are_links_when_the_ui_url_is_set():
    with temporary_settings({PREFECT_UI_URL: "https://prefect.example.org/"}):
        assert run_link(RUN, "archive-titan-production") == (
            f"[archive-titan-production](https://prefect.example.org/runs/flow-run/{RUN})"
        )
        row = summary_row(
            {"sponsor": "titan", "environment": "production", "status": "archived", "size": 12_894_211,
             "seconds": 5.04, "flow_run": RUN, "flag_source": "environment", "location": RECORD[
                 "backup_location"], "sha256": "9f" * 32, "reason": None, "local_log": None}
        )  # fmt: skip
    assert row["flow run"] == f"[archive-titan-production](https://prefect.example.org/runs/flow-run/{RUN})"
    assert (row["size"], row["time"], row["reason"], row["local log"]) == ("12.3 MiB", "5.0 s", "", "none")
    assert list(row)[:4] == ["sponsor", "environment", "status", "reason"]  # the short cells first


@pytest.mark.parametrize("status", ["archived", "failed"])
def test_the_deployment_log_reads_as_sentences_without_json_or_nulls(status):
    record = {**RECORD, "status": status}
    if status == "failed":
        nothing = {"backup_location": "not-configured", "log_location": "local-only", "backup_size": 0}
        record = {**record, **nothing, "error": "The database for sponsor titan did not answer."}
    shown = log_markdown(record)
    assert "null" not in shown and "None" not in shown and "{" not in shown and '"' not in shown
    assert shown.startswith(f"### Deployment log of titan (production): {status}\n")
    assert "- **When:** 2026-03-01 02:00:04 UTC to 2026-03-01 02:00:09 UTC" in shown
    assert "- **Archival:** on, decided by the sponsor's ENABLE_S3_BACKUP_ARCHIVAL" in shown
    assert "| database | environment TITAN_DATABASE_URL |" in shown and "| dump | 1.2 s |" in shown
    if status == "failed":
        assert "- **Why:** The database for sponsor titan did not answer." in shown
        assert "- **Backup:** none: nothing was archived" in shown
        assert "- **This log:** kept only on the machine that ran the run (not uploaded)" in shown
    else:
        assert (
            "- **Size:** 12.3 MiB (12,894,211 bytes)" in shown and "| public.diary_entries | 500 |" in shown
        )
        assert "- **Upload:** one request, none repeated" in shown


def test_a_nights_row_names_a_degraded_sponsor_and_a_restart():
    """archive-summary: a sponsor archived at its first copy only says so, beside a restart it needed."""
    from blocks.manifest import ManifestSettings, SponsorRun
    from flows.archive_all_sponsors import _summary_row
    from flows.fan_out import RESTARTED

    settings = ManifestSettings(path="sponsors.yaml", default_region="eu-west-1")
    run = SponsorRun("titan", "production", settings)
    degraded = "the second copy (offsite) was not archived: its destination did not answer"
    row = _summary_row(run, {**RECORD, "degraded": degraded, RESTARTED: "its first run r1 crashed (x)"})
    assert row["status"] == "archived"
    assert row["reason"] == f"started again: its first run r1 crashed (x); degraded: {degraded}"
    assert _summary_row(run, RECORD)["reason"] is None
