"""What the Prefect UI shows of one sponsor's run, and the record a parent run or a CI job reads back.

Why here and not in the pipeline: the UI is a reader of its own. A person
opening a run sees what the JSON log knows (where the backup is, with a link a
browser opens, its size, SHA-256, retain-until, the log's location, row
counts, where the flag came from) and, when archival is off, the ways to turn
it on from the UI itself. A nightly on another machine, or `hht-archival
pre-deploy` in a CI job, reads the same record back through the API, because
the run's local log lives on the worker that ran it.
"""

from __future__ import annotations

import json
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

from hht_archival.naming import split_location

RECORD_PREFIX = "archive-log"
_SUMMARY_FIELDS = (
    "status",
    "flag_source",
    "backup_location",
    "backup_size",
    "backup_sha256",
    "retain_until",
    "log_location",
    "error",
)


def record_key(sponsor: str, environment: str) -> str:
    return f"{RECORD_PREFIX}-{sponsor}-{environment}"


def publish_record(record: dict[str, Any]) -> None:
    """The run's JSON log as a table artifact (one row per field): for people, and for readers of the API."""
    rows = [
        {"field": name, "value": value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}
        for name, value in record.items()
        if name != "local_log"
    ]
    create_table_artifact(
        key=record_key(record["sponsor"], record["environment"]),
        table=rows,
        description=f"Deployment log of {record['sponsor']} ({record['environment']}): {record['status']}.",
    )


def read_record(flow_run_id, sponsor: str, environment: str) -> dict[str, Any] | None:
    """A run's deployment log, read back from its record artifact (its local copy is on the worker)."""
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[record_key(sponsor, environment)]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
            )
        )
    return record_from_artifact(found[0].data) if found else None


def record_from_artifact(data: str) -> dict[str, Any]:
    """The JSON log back from a table artifact's data."""
    record: dict[str, Any] = {}
    for row in json.loads(data):
        value = row["value"]
        try:
            record[row["field"]] = json.loads(value)
        except (TypeError, ValueError):
            record[row["field"]] = value
    return record


def publish_backup(record: dict[str, Any], region: str) -> None:
    """The archived backup, as a person checks it: where (with a console link), how big, its proofs."""
    bucket, key = split_location(record["backup_location"])
    console = f"https://{region}.console.aws.amazon.com/s3/object/{bucket}?region={region}&prefix={key}"
    counts = record.get("table_counts") or {}
    lines = [
        f"### Backup of {record['sponsor']} ({record['environment']})",
        "",
        "| | |",
        "| --- | --- |",
        f"| backup | `{record['backup_location']}` ([open in the AWS console]({console})) |",
        f"| size | {record['backup_size']:,} bytes ({record.get('backup_uncompressed_size') or 0:,} before "
        "compression) |",
        f"| SHA-256 | `{record['backup_sha256']}` |",
        f"| retain until | {record['retain_until']} |",
        f"| deployment log | `{record['log_location']}` |",
        f"| roles | `{record.get('roles_location') or 'none'}` |",
        f"| flag | {'enabled' if record['s3_archival_enabled'] else 'disabled'} "
        f"(from {record['flag_source']}) |",
        f"| rows | {sum(counts.values()):,} in {len(counts)} tables |",
    ]
    create_markdown_artifact(
        key=f"backup-{record['sponsor']}-{record['environment']}",
        markdown="\n".join(lines),
        description=f"Backup of {record['sponsor']} ({record['environment']}): {record['backup_location']}",
    )


def publish_disabled(sponsor: str, environment: str, banner: str) -> None:
    """The seed's banner, plus the ways to turn archival on that a person in the UI has at hand."""
    ui_ways = f"""
**From here:** run the `on-demand` deployment with *Archival* set to *on* (this run only); set the
Prefect variable `enable-s3-backup-archival-{sponsor}-{environment}` to `true` (Variables); or set
*Enable S3 Backup Archival* in {sponsor}'s `hht-sponsor-archival` block (Blocks). First make the
buckets ready: `hht-archival provision --sponsor {sponsor} --environment {environment}`, then check
with `hht-archival doctor --sponsor {sponsor} --environment {environment}` (or the `readiness`
deployment)."""
    create_markdown_artifact(
        key=f"s3-archival-disabled-{sponsor}-{environment}",
        markdown=f"```\n{banner}\n```\n{ui_ways}",
        description=f"S3 backup archival is not enabled for {sponsor} ({environment}).",
    )
