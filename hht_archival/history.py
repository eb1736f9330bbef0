"""A sponsor's recent archives, read from its deployment logs: the baseline anomalies and status compare with.

Why the logs and not the backups' listing: each log records its backup's
size, key and every table's row count, and the archival role may already list
``deployments/`` and read the logs (the hash chain needs both), while it may
neither list nor read ``backups/`` (hht_archival/iam.py). So checking a new
backup against the recent ones asks for no right the role does not have.

An archive run looks back ``RECENT_DAYS`` only: it lists the keys after that
day's (one request, however long the history; hht_archival/audit_chain.py
keeps runs at that cost too) and reads a handful of logs, all still hot.
``status`` looks back as far as the archive goes.

Logs are read newest first and only as far as needed; a log that is not JSON,
is not an archived run's, or is already cold (Glacier) is skipped: its
integrity is the hash chain's business (hht_archival/chain_verify.py).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hht_archival.adapters import s3_objects
from hht_archival.catalogue import entry_for
from hht_archival.iam import DEPLOYMENT_LOGS_PREFIX
from hht_archival.naming import ENVIRONMENT_KEYS

READ_AT_MOST = 30  # logs read per look-up: failed runs' logs sit between archived ones
RECENT_DAYS = 62  # an archive run's look-back: weekly backups still give 8; logs stay hot for 90 days


@dataclass(frozen=True)
class Archived:
    """One archived run, as its deployment log records it."""

    log_key: str
    timestamp: str | None
    backup_location: str | None
    size: int | None
    table_counts: dict[str, int] | None

    @property
    def extension(self) -> str:
        """The backup's format (sql.gz, sql.zst, dump): sizes of different formats do not compare."""
        location = self.backup_location or ""
        for extension in ("sql.gz", "sql.zst", "dump"):
            if location.endswith("." + extension):
                return extension
        return ""


def recent_archives(
    client,
    bucket: str,
    environment: str,
    limit: int,
    sponsor: str,
    exclude_key: str | None = None,
    since_days: int | None = RECENT_DAYS,
) -> list[Archived]:
    """Up to ``limit`` archived runs of ``environment``, newest first, leaving out the log ``exclude_key``.

    Only logs of the last ``since_days`` days are listed (None: all of them).
    """
    start = None
    if since_days is not None:
        start = f"{DEPLOYMENT_LOGS_PREFIX}{datetime.now(UTC) - timedelta(days=since_days):%Y/%m/%d}/"
    listed = s3_objects.list_after(client, bucket, DEPLOYMENT_LOGS_PREFIX, start, sponsor)
    short = ENVIRONMENT_KEYS[environment]
    entries = sorted(
        (e for e in map(entry_for, listed) if e and e.kind == "log" and e.environment == short),
        key=lambda e: e.key,
        reverse=True,
    )
    found: list[Archived] = []
    for entry in [e for e in entries if e.key != exclude_key][:READ_AT_MOST]:
        if len(found) >= limit:
            break
        body = s3_objects.read(client, bucket, entry.key, sponsor)
        if body is None:  # cold (Glacier): unreadable until restored, and no longer recent
            continue
        record = _parse(body)
        if record.get("status") != "archived":
            continue
        size = record.get("backup_size")
        counts = record.get("table_counts")
        found.append(
            Archived(
                log_key=entry.key,
                timestamp=record.get("timestamp"),
                backup_location=record.get("backup_location"),
                size=size if isinstance(size, int) and size > 0 else None,
                table_counts=counts if isinstance(counts, dict) else None,
            )
        )
    return found


def median_size(archives: list[Archived], extension: str) -> tuple[float | None, int]:
    """The median size of the archives in ``extension``'s format, and how many it was taken over."""
    sizes = [a.size for a in archives if a.size and a.extension == extension]
    return (statistics.median(sizes) if sizes else None), len(sizes)


def _parse(body: bytes) -> dict:
    try:
        record = json.loads(body)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}
