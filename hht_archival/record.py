"""The JSON deployment log: its fields, and writing it locally so that no run goes unrecorded.

The local copy is written on every path (archived, skipped, failed), atomically
and without ever replacing an earlier log: an audit trail only grows.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from hht_archival.copy_record import SecondCopyRecord

if TYPE_CHECKING:
    from blocks.config import SponsorConfig
    from hht_archival.naming import RunNames

# 2: the hash chain (previous_log, previous_log_sha256); upload_parts, s3_retries, stream_attempts
# 3: roles_location, roles_sha256 (the roles object beside the backup); older logs lack them
# 4: object_lock_retain_until (each object's own compliance retention, where the bucket locks)
# 5: settings_sources (where the sponsor's database, buckets, region and identity came from)
# 6: copy_name, second_copy, degraded (a second destination: hht_archival/copy_record.py)
SCHEMA_VERSION = 6
NOT_CONFIGURED = "not-configured"
LOCAL_ONLY = "local-only"


class StepRecord(BaseModel):
    step: str
    seconds: float
    detail: str | None = None


class DeploymentLog(BaseModel):
    """One run's record; it never holds a secret (connection strings are stored masked)."""

    schema_version: int = SCHEMA_VERSION
    sponsor: str
    environment: str
    timestamp: str = Field(description="The run's UTC timestamp, ISO 8601; also in every key.")
    s3_archival_enabled: bool
    flag_source: Literal["parameter", "environment", "block", "prefect-variable", "default"]
    status: Literal["archived", "skipped", "failed"]
    backup_location: str = NOT_CONFIGURED
    backup_size: int = 0
    backup_sha256: str | None = None
    backup_uncompressed_size: int | None = None
    roles_location: str | None = Field(
        default=None,
        description="The roles the backup's objects refer to, stored beside it (pg_dump leaves them out).",
    )
    roles_sha256: str | None = Field(default=None, description="SHA-256 of the roles object; also its tag.")
    upload_parts: int | None = Field(default=None, description="Multipart parts sent; 0 for a single PUT.")
    s3_retries: int | None = Field(
        default=None,
        description="Requests S3 asked to be repeated (throttling, 5xx, resets) during the upload.",
    )
    stream_attempts: int | None = Field(
        default=None, description="Times the dump | compress | upload stream ran (more than 1: restarted)."
    )
    log_location: str = LOCAL_ONLY
    region: str
    backups_bucket: str
    audit_logs_bucket: str
    database: str | None = Field(default=None, description="The dumped database, password masked.")
    retain_until: str | None = None
    object_lock_retain_until: str | None = Field(
        default=None,
        description="The compliance-mode retention set on the backup and its roles object "
        "(PutObjectRetention) where the backups bucket has Object Lock (the log gets its own the same "
        "way where the audit bucket has it); null otherwise and before version 4.",
    )
    table_counts: dict[str, int] | None = Field(
        default=None, description="Rows per table in the dump's snapshot; restore drills compare against it."
    )
    deployment: dict[str, str] = Field(default_factory=dict)
    settings_sources: dict[str, str] = Field(
        default_factory=dict,
        description="Where each of the sponsor's settings came from (block, environment VARIABLE, manifest, "
        "default): database, buckets, region, KMS key, AWS identity.",
    )
    steps: list[StepRecord] = Field(default_factory=list)
    flow_run_id: str | None = Field(default=None, description="The Prefect flow run, to find it in the UI.")
    started_at: str
    finished_at: str | None = None
    error: str | None = None
    log_upload_error: str | None = None
    copy_name: str = Field(
        default="primary", description="Which copy this log is of: primary, or the second's name."
    )
    second_copy: SecondCopyRecord | None = Field(
        default=None, description="The second destination's outcome (in the first copy's and the local log)."
    )
    degraded: str | None = Field(
        default=None, description="Why an archived run is degraded: its second copy failed, named."
    )
    previous_log: str | None = Field(
        default=None, description="Key of the previous uploaded log of this sponsor and environment."
    )
    previous_log_sha256: str | None = Field(
        default=None,
        description="SHA-256 of that log's bytes as stored: the hash chain `verify --logs` walks.",
    )

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def new_log(
    config: SponsorConfig, names: RunNames, started_at: str, flow_run_id: str | None = None
) -> DeploymentLog:
    """The record every run starts from (skipped, flag off by default), in the flow or without it."""
    return DeploymentLog(
        sponsor=config.sponsor,
        environment=config.environment,
        timestamp=names.timestamp,
        s3_archival_enabled=False,
        flag_source="default",
        status="skipped",
        region=config.region,
        backups_bucket=config.backups_bucket,
        audit_logs_bucket=config.audit_logs_bucket,
        deployment=config.deployment,
        settings_sources=config.sources,
        flow_run_id=flow_run_id,
        started_at=started_at,
    )


# What a log keeps in its metadata besides its SHA-256s, for an evidence report (evidence/facts.py)
# once the log is cold: HEAD reads metadata in any storage class, GetObject is refused there.
HEAD_FACTS = {
    "status": "status",
    "flag-source": "flag_source",
    "flow-run-id": "flow_run_id",
    "backup-location": "backup_location",
    "backup-size": "backup_size",
    "retain-until": "retain_until",
    "object-lock-until": "object_lock_retain_until",
    "started-at": "started_at",
    "finished-at": "finished_at",
    "error": "error",
    "degraded": "degraded",
}
_HEAD_TEXT_LIMIT = 400  # S3 keeps 2 KB of metadata per object, keys included


def head_facts(record: DeploymentLog) -> dict[str, str]:
    """The log's facts an auditor needs for seven years, as S3 metadata (ASCII, short; none is a secret)."""
    values = record.model_dump(mode="json")
    facts = {}
    for name, field_name in HEAD_FACTS.items():
        value = values.get(field_name)
        if value in (None, ""):
            continue
        text = str(value).encode("ascii", "backslashreplace").decode("ascii")
        facts[name] = text[:_HEAD_TEXT_LIMIT]
    return facts


def facts_from_head(metadata: dict[str, str]) -> dict:
    """A cold log's record as far as its metadata holds it (logs written before 2026-12 hold none of it)."""
    record: dict = {field_name: metadata[name] for name, field_name in HEAD_FACTS.items() if name in metadata}
    if "backup_size" in record:
        record["backup_size"] = int(record["backup_size"]) if record["backup_size"].isdigit() else None
    if "backup-sha256" in metadata:
        record["backup_sha256"] = metadata["backup-sha256"]
    return record


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def write_local_log(log_dir: Path, filename: str, content: str) -> Path:
    """Write ``content`` to ``log_dir/filename`` atomically, never overwriting an existing log.

    Two runs in the same second (two sponsors sharing a log directory) get
    ``-2``, ``-3``... suffixes instead of replacing each other's record.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=log_dir, prefix=".tmp-", suffix=".json")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        stem, suffix = filename.rsplit(".", 1)
        for attempt in range(1, 1000):
            candidate = log_dir / (filename if attempt == 1 else f"{stem}-{attempt}.{suffix}")
            try:
                os.link(tmp, candidate)
            except FileExistsError:
                continue
            return candidate
        raise FileExistsError(f"Too many logs named {filename} in {log_dir}")
    finally:
        tmp.unlink(missing_ok=True)
