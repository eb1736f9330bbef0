"""A sponsor's recent archives, read from its deployment logs: the baseline anomalies and status compare with.

Why the logs and not the backups' listing: each log records its backup's
size, key and every table's row count, and the archival role may already list
``deployments/`` and read the logs (the hash chain needs both), while it may
neither list nor read ``backups/`` (hht_archival/iam.py). So checking a new
backup against the recent ones asks for no right the role does not have.

Logs are read newest first and only as far as needed; a log that is not JSON,
is not an archived run's, or is already cold (Glacier) is skipped: its
integrity is the hash chain's business (hht_archival/chain_verify.py).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass

from hht_archival.catalogue import list_entries
from hht_archival.iam import DEPLOYMENT_LOGS_PREFIX

READ_AT_MOST = 30  # logs read per look-up: failed runs' logs sit between archived ones


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
    client, bucket: str, environment: str, limit: int, exclude_key: str | None = None
) -> list[Archived]:
    """Up to ``limit`` archived runs of ``environment``, newest first, leaving out the log ``exclude_key``."""
    found: list[Archived] = []
    logs = list_entries(client, bucket, DEPLOYMENT_LOGS_PREFIX, environment)
    entries = [e for e in logs if e.key != exclude_key]
    for entry in entries[:READ_AT_MOST]:
        if len(found) >= limit:
            break
        if entry.cold:  # in Glacier after 90 days: not readable, and too old to be "recent" anyway
            continue
        record = _read_json(client, bucket, entry.key)
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


def _read_json(client, bucket: str, key: str) -> dict:
    try:
        record = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}
