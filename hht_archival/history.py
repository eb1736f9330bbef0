"""A sponsor's recent archives as its deployment logs record them: what ``status`` shows and trends.

The logs in the audit bucket are the record: each holds its backup's size,
key and every table's row count. ``status`` reads them with the rights the
archival role already has (list ``deployments/``, read the logs); an archive
run compares a new backup with Prefect's events instead (hht_archival/baseline.py),
so that its own S3 requests do not grow with the history.

Logs are read newest first and only as far as needed; a log that is not JSON,
is not an archived run's, or is cold (Glacier, after 90 days) is skipped: its
integrity is the hash chain's business (hht_archival/chain_verify.py).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass

from hht_archival.adapters import s3_objects
from hht_archival.catalogue import entry_for
from hht_archival.naming import DEPLOYMENT_LOGS_PREFIX, ENVIRONMENT_KEYS, backup_extension

READ_AT_MOST = 30  # logs read per look-up: failed runs' logs sit between archived ones


@dataclass(frozen=True)
class Archived:
    """One archived run: where its backup is, how big, when, and its tables' row counts."""

    log_key: str
    timestamp: str | None
    backup_location: str | None
    size: int | None
    table_counts: dict[str, int] | None

    @classmethod
    def recorded(cls, log_key: str, timestamp, location, size, counts) -> Archived:
        """From what a log or an event recorded, where a size that is not a positive number and
        counts that are not a mapping are unknown, not wrong."""
        return cls(
            log_key=log_key,
            timestamp=timestamp,
            backup_location=location,
            size=size if isinstance(size, int) and size > 0 else None,
            table_counts=counts if isinstance(counts, dict) else None,
        )

    @property
    def extension(self) -> str:
        """The backup's format (sql.gz, sql.zst, dump): sizes of different formats do not compare."""
        return backup_extension(self.backup_location)


def recent_archives(client, bucket: str, environment: str, limit: int, sponsor: str) -> list[Archived]:
    """Up to ``limit`` archived runs of ``environment``, newest first, from its deployment logs."""
    listed = s3_objects.list_after(client, bucket, DEPLOYMENT_LOGS_PREFIX, None, sponsor)
    short = ENVIRONMENT_KEYS[environment]
    entries = sorted(
        (e for e in map(entry_for, listed) if e and e.kind == "log" and e.environment == short),
        key=lambda e: e.key,
        reverse=True,
    )
    found: list[Archived] = []
    for entry in entries[:READ_AT_MOST]:
        if len(found) >= limit:
            break
        if entry.cold:  # listed in a Glacier class: not read (a restored copy is listed so too)
            continue
        body = s3_objects.read(client, bucket, entry.key, sponsor)
        record = _parse(body) if body is not None else {}
        if record.get("status") != "archived":
            continue
        found.append(
            Archived.recorded(
                entry.key,
                record.get("timestamp"),
                record.get("backup_location"),
                record.get("backup_size"),
                record.get("table_counts"),
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
