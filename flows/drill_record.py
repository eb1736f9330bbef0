"""A drill's outcome as a table artifact: what the weekly reads back from each sponsor's drill run.

Why an artifact: the weekly (flows/drill_all_sponsors.py) starts each drill as
a run on any worker, and results are not persisted; the run's markdown report
is for people, this record is for the weekly's summary: passed or failed and
why, which backup, where the auditor's report is. A drill that could not run
records that too, so the weekly can name the reason.
"""

from __future__ import annotations

import json
from typing import Any

from prefect.artifacts import create_table_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

# Each field of the record and the words its row is shown with: an auditor reads this table in the UI.
LABELS = {
    "sponsor": "Sponsor",
    "environment": "Environment",
    "status": "Outcome",
    "backup_location": "Backup drilled",
    "backup_sha256": "Backup SHA-256",
    "report_location": "Drill report",
    "error": "Why it failed",
    "tables": "Tables restored",
}
NONE_SHOWN = "—"  # a field with no value (no error, no report): a dash, never "null"


def drill_record_key(sponsor: str, environment: str) -> str:
    return f"drill-record-{sponsor}-{environment}"


def publish_drill_record(report: dict[str, Any]) -> None:
    """The drill's outcome, one row per field in words (the tables are in the markdown report and in S3)."""
    values = {**{name: report.get(name) for name in LABELS}, "tables": len(report.get("tables") or {})}
    rows = [
        {"Field": LABELS[name], "Value": NONE_SHOWN if value in (None, "") else str(value)}
        for name, value in values.items()
    ]
    create_table_artifact(
        key=drill_record_key(report["sponsor"], report["environment"]),
        table=rows,
        description=f"Restore drill of {report['sponsor']} ({report['environment']}): {report['status']}.",
    )


def read_drill_record(flow_run_id, sponsor: str, environment: str) -> dict[str, Any] | None:
    """A drill run's record, read back from its artifact; None when the run left none (it crashed)."""
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[drill_record_key(sponsor, environment)]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
            )
        )
    return _fields(found[0].data) if found else None


def _fields(data: str) -> dict[str, Any]:
    """The record back from the table's rows (label, value); a dash is no value."""
    names = {label: name for name, label in LABELS.items()}
    return {
        names[row["Field"]]: None if row["Value"] == NONE_SHOWN else row["Value"]
        for row in json.loads(data)
        if row.get("Field") in names
    }
