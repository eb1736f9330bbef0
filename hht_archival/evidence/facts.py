"""Evidence for an inspector: every backup of one sponsor and environment in a period, as facts.

Why: under Part 11 the day comes when an inspector asks for every backup of a
year, that each is intact, retained and restorable, and what went wrong and
when. This module gathers those facts from S3 alone, the sponsor's own
buckets read with its own identity, so they stand when the Prefect server's
history is gone; the server adds only what S3 cannot know (crashed runs, the
incidents as they were paged: server.py). Drawing them is
html.py's and charts.py's job.

What it reads, and why nothing is read per backup:

- one paginated listing of ``backups/`` (catalogue.list_entries): each
  backup's key, size and storage class now. No backup is read, HEADed or
  tag-read (the archival role may not read backups, and 2,555 HEADs would
  cost more than the whole report);
- the hash chain walked over the period (chain_verify.verify_chain with a
  window): one read per log, which the walk needs anyway. Each log's record
  states the rest (the backup's SHA-256, its retain-until tag as read back
  after the write, its Object Lock date, the run, the application deployment,
  the flag's source); a cold log's come from its metadata, read by the HEAD
  the walk makes (record.facts_from_head);
- the drill reports of the period (drill_reports.py), the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from hht_archival import drill_reports
from hht_archival.adapters.s3_errors import refusal
from hht_archival.catalogue import COLD_CLASSES, list_entries
from hht_archival.chain_verify import ChainReport, verify_chain
from hht_archival.errors import ArchivalError
from hht_archival.naming import BACKUPS_PREFIX, DEPLOYMENT_LOGS_PREFIX, parse_key, split_location
from hht_archival.record import facts_from_head

SCHEMA_VERSION = 1


@dataclass
class RunFact:
    """One archive run of the period, as its deployment log (or the backups' listing) states it."""

    stamp: str  # YYYYMMDD-HHMMSS, the run's UTC timestamp: in its log's and its backup's keys
    time: str  # ISO 8601 UTC
    status: str  # archived, failed, or unknown (a cold log written before logs kept their facts readable)
    log_key: str | None
    log_read: str  # "read", "cold: facts from its metadata", "cold: not readable", "no log"
    backup_key: str | None = None
    size: int | None = None
    sha256: str | None = None
    checksum: str = "unknown"
    storage_class: str | None = None
    retain_until: str | None = None
    object_lock_until: str | None = None
    retention: str = ""
    flow_run_id: str | None = None
    deployment: dict[str, str] = field(default_factory=dict)
    flag_source: str | None = None
    duration_seconds: float | None = None
    table_counts: dict[str, int] | None = None
    error: str | None = None
    anomalies: list[str] = field(default_factory=list)  # as its run's check finds them
    problems: list[str] = field(default_factory=list)  # the bucket and the log disagree
    degraded: str | None = None  # its second copy failed (the sentence its log records)

    @property
    def day(self) -> date:
        return datetime.strptime(self.stamp[:8], "%Y%m%d").date()

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "table_counts"}


@dataclass
class Gathered:
    """What S3 holds for the period: the runs (oldest first), the chain walk, the drills, what was unread."""

    runs: list[RunFact]
    chain: ChainReport
    drills: list[drill_reports.DrillFact]
    notes: list[str] = field(default_factory=list)


def gather(client, config, first: date, last: date) -> Gathered:
    """Read the period's facts from the sponsor's buckets (see the module docstring for what is read)."""
    notes: list[str] = []
    backups = _backups(client, config, first, last, notes)
    chain = verify_chain(
        client, config.audit_logs_bucket, config.environment, config.sponsor, since=first, until=last
    )
    runs = _runs(chain, backups, config)
    drills = drill_reports.drills_in(
        client, config.audit_logs_bucket, config.environment, first, last, config.sponsor
    )
    return Gathered(runs, chain, drills, notes)


def _backups(client, config, first: date, last: date, notes: list[str]) -> dict[str, Any] | None:
    """The period's backups by run stamp, from one listing; None when this identity may not list them."""
    try:
        entries = list_entries(
            client, config.backups_bucket, BACKUPS_PREFIX, config.environment, first, config.sponsor
        )
    except ArchivalError as exc:
        if (refusal(exc) or ("", ""))[1] not in ("AccessDenied", "403"):
            raise
        notes.append(
            f"The backups in s3://{config.backups_bucket}/{BACKUPS_PREFIX} could not be listed ({exc}); "
            "their keys, sizes and SHA-256 are as the deployment logs record them, and their storage "
            "class now is unknown. Give this identity hht-archival iam-policy --reader to list them."
        )
        return None
    return {e.stamp: e for e in entries if e.day <= last}


def _runs(chain: ChainReport, backups: dict[str, Any] | None, config) -> list[RunFact]:
    """One fact per run: its log (read, or its metadata while cold) joined with its backup's listing."""
    runs: dict[str, RunFact] = {}
    for log_key in [*chain.records, *chain.heads, *chain.cold]:
        parsed = parse_key(log_key)
        if parsed is None or parsed.stamp in runs:
            continue
        runs[parsed.stamp] = _from_log(log_key, parsed.stamp, chain)
    for stamp, entry in (backups or {}).items():
        run = runs.get(stamp)
        if run is None:
            run = runs[stamp] = RunFact(
                stamp=stamp, time=_iso(stamp), status="archived", log_key=None, log_read="no log"
            )
            run.problems.append(
                f"No deployment log of this run is in s3://{config.audit_logs_bucket}/"
                f"{DEPLOYMENT_LOGS_PREFIX}: its SHA-256 and retention are not recorded there."
            )
        _join_listing(run, entry)
    if backups is not None:
        for run in runs.values():
            if run.status == "archived" and run.backup_key and run.storage_class is None:
                run.problems.append(
                    f"Its log records the backup {run.backup_key}, which is not in the bucket now."
                )
    for run in runs.values():
        run.retention = retention_sentence(run)
    return sorted(runs.values(), key=lambda r: r.stamp)


def _from_log(log_key: str, stamp: str, chain: ChainReport) -> RunFact:
    record = chain.records.get(log_key)
    read = "read"
    if record is None:
        head = chain.heads.get(log_key)
        record = facts_from_head(head.metadata) if head is not None else {}
        read = "cold: facts from its metadata" if record.get("status") else "cold: not readable"
    status = record.get("status") or "unknown"
    run = RunFact(stamp=stamp, time=_iso(stamp), status=status, log_key=log_key, log_read=read)
    location = record.get("backup_location")
    if location and location.startswith("s3://"):
        run.backup_key = split_location(location)[1]
    size = record.get("backup_size")
    run.size = size if isinstance(size, int) and size > 0 else None
    run.sha256 = record.get("backup_sha256")
    run.retain_until = record.get("retain_until")
    run.object_lock_until = record.get("object_lock_retain_until")
    run.flow_run_id = record.get("flow_run_id")
    run.deployment = {k: str(v) for k, v in (record.get("deployment") or {}).items() if v}
    run.flag_source = record.get("flag_source")
    run.duration_seconds = _duration(record.get("started_at"), record.get("finished_at"))
    counts = record.get("table_counts")
    run.table_counts = counts if isinstance(counts, dict) else None
    run.error = record.get("error")
    run.degraded = record.get("degraded")
    parts = record.get("upload_parts")
    if status == "archived":
        run.checksum = (
            "S3 checked the SHA-256 of the whole backup on upload (one PUT carrying it)"
            if parts == 0
            else f"S3 checked each of its {parts} parts by CRC32 on upload; the SHA-256 is the run's own"
            if isinstance(parts, int)
            else "not readable while its log is cold"
            if read != "read"
            else "not recorded (a log before schema 2)"
        )
    return run


def _join_listing(run: RunFact, entry) -> None:
    """The listing says what is in the bucket now: where it disagrees with the log, say so."""
    run.storage_class = entry.storage_class
    if run.backup_key and run.backup_key != entry.key:
        run.problems.append(f"Its log records {run.backup_key}, the bucket holds {entry.key}.")
    run.backup_key = entry.key
    if run.size is not None and run.size != entry.size:
        run.problems.append(f"Its log records {run.size:,} bytes, the bucket holds {entry.size:,}.")
    run.size = entry.size


def retention_sentence(run: RunFact) -> str:
    """The retention as a person states it: how long, by what, and whether anyone can delete it before."""
    if run.status != "archived":
        return "no backup"
    kept = (
        f"kept until {run.retain_until} (its retain-until tag, 7 years)"
        if run.retain_until
        else "retain-until not recorded in a readable log"
    )
    if run.object_lock_until:
        until = run.object_lock_until[:10]
        return f"{kept}; Object Lock COMPLIANCE until {until}: nobody, root included, can delete it before"
    return f"{kept}; no Object Lock of its own: versioning and the lifecycle rule keep it"


def cold_note(storage_class: str | None) -> str | None:
    """Why an object in ``storage_class`` cannot be read now, and how long a restore takes; None if it can."""
    return COLD_CLASSES.get(storage_class or "")


def _duration(started: str | None, finished: str | None) -> float | None:
    try:
        a = datetime.fromisoformat(str(started).replace("Z", "+00:00"))
        b = datetime.fromisoformat(str(finished).replace("Z", "+00:00"))
    except ValueError:
        return None
    return round((b - a).total_seconds(), 1)


def _iso(stamp: str) -> str:
    moment = datetime.strptime(stamp, "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
    return moment.isoformat().replace("+00:00", "Z")


def thaw_command(config) -> str:
    """What brings the cold logs back, so their links and facts can be checked too."""
    return (
        f"hht-archival verify --logs --sponsor {config.sponsor} --environment {config.environment} "
        "--request-glacier-restore"
    )
