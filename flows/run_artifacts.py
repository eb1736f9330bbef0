"""What the Prefect UI shows of a run, and the record a parent run or a CI job reads back.

Why here and not in the pipeline: the UI is a reader of its own. A person
opening a run sees what the JSON log knows (where the backup is, with a link
that opens it, its size with units, SHA-256, whether S3 locks it, the log's
location, row counts, where the flag came from) and, when archival is off, the
ways to turn it on from the UI itself. The wording is flows/artifact_text.py's.

A nightly on another machine, or `hht-archival pre-deploy` in a CI job, reads
the run's JSON log back through the API, because its local copy lives on the
worker that ran it. The log travels in the ``archive-log`` artifact's metadata,
which the UI does not show, so the page a person reads holds no JSON; Prefect
cuts each metadata value at 500 characters, hence the numbered pieces.
"""

from __future__ import annotations

import json
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactUpdate
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

from flows.artifact_text import DECIDED_BY, backup_markdown, log_markdown, run_link
from hht_archival.naming import validate_sponsor
from hht_archival.progress import human_size

RECORD_PREFIX = "archive-log"
_PIECE = 400  # characters of the JSON log per metadata value (Prefect keeps 500)


def record_key(sponsor: str, environment: str) -> str:
    """The artifact key of a run's log; a run refused before it had a sponsor is ``no-sponsor``'s."""
    try:
        validate_sponsor(sponsor)
    except Exception:
        sponsor = "no-sponsor"
    return f"{RECORD_PREFIX}-{sponsor}-{environment or 'unknown'}"


def record_metadata(record: dict[str, Any]) -> dict[str, str]:
    """The JSON log in numbered pieces, each under Prefect's metadata limit."""
    text = json.dumps({k: v for k, v in record.items() if k != "local_log"}, ensure_ascii=False)
    pieces = [text[i : i + _PIECE] for i in range(0, len(text), _PIECE)] or [""]
    return {"record-pieces": str(len(pieces)), **{f"record-{i:03d}": p for i, p in enumerate(pieces)}}


def record_from_metadata(metadata: dict[str, str] | None) -> dict[str, Any] | None:
    """The JSON log back from an ``archive-log`` artifact's metadata; None if it has none."""
    if not metadata or "record-pieces" not in metadata:
        return None
    count = int(metadata["record-pieces"])
    return json.loads("".join(metadata[f"record-{i:03d}"] for i in range(count)))


def publish_record(record: dict[str, Any]) -> None:
    """The run's JSON log as a page a person reads, carrying the log itself for readers of the API."""
    artifact_id = create_markdown_artifact(
        key=record_key(record["sponsor"], record["environment"]),
        markdown=log_markdown(record),
        description=f"Deployment log of {record['sponsor']} ({record['environment']}): {record['status']}.",
    )
    with get_client(sync_client=True) as client:
        client.update_artifact(artifact_id, ArtifactUpdate(metadata_=record_metadata(record)))


def read_record(flow_run_id, sponsor: str, environment: str) -> dict[str, Any] | None:
    """A run's deployment log, read back from its record artifact (its local copy is on the worker)."""
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[record_key(sponsor, environment)]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
            )
        )
    return record_from_metadata(found[0].metadata_) if found else None


def publish_backup(record: dict[str, Any], config) -> None:
    """The archived backup, as a person checks it, linked where the sponsor's S3 client sends requests."""
    from hht_archival.adapters.s3 import client_for

    create_markdown_artifact(
        key=f"backup-{record['sponsor']}-{record['environment']}",
        markdown=backup_markdown(record, client_for(config).meta.endpoint_url),
        description=f"Backup of {record['sponsor']} ({record['environment']}): {record['backup_location']}",
    )


def publish_summary(finished: list[dict[str, Any]]) -> None:
    """A night's sponsors, one row each, with a link to each sponsor's run."""
    create_table_artifact(
        key="archive-summary",
        table=[summary_row(row) for row in finished],
        description="Each sponsor's archival: status, reason, size, time, flow run, backup, SHA-256.",
    )


def summary_row(row: dict) -> dict:
    """One sponsor of a night as the archive-summary table shows it: short cells first, no nulls."""
    return {
        "sponsor": row["sponsor"],
        "environment": row["environment"],
        "status": row["status"],
        "reason": row.get("reason") or "",
        "size": human_size(row["size"]) if row.get("size") else "none",
        "time": f"{row.get('seconds') or 0:.1f} s",
        "flow run": run_link(row.get("flow_run"), f"archive-{row['sponsor']}-{row['environment']}"),
        "archival decided by": DECIDED_BY.get(row.get("flag_source"), row.get("flag_source") or "unknown"),
        "backup": row.get("location") or "none",
        "SHA-256": row.get("sha256") or "none",
        "local log": row.get("local_log") or "none",
    }


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
