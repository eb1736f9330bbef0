"""The catalogue: what is archived for a sponsor, newest first, and how to get it back.

Listing pages through every key (S3 returns at most 1,000 a page); details
that cost a request per object (tags: SHA-256, retain-until) are fetched only
for the entries shown. A backup's roles object (``.roles.json`` beside it) is
not an entry of its own but part of the backup's (``Entry.roles``): the two
are restored together, and a backup archived before roles were has none.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime

from hht_archival.adapters import s3_objects
from hht_archival.naming import ENVIRONMENT_KEYS, log_key_for, parse_key, roles_key_for

__all__ = ["Entry", "add_details", "entry_for", "list_entries", "log_key_for", "roles_key_for"]

COLD_CLASSES = {
    "DEEP_ARCHIVE": "a Glacier Deep Archive restore takes up to 12 hours (Standard) or 48 hours (Bulk)",
    "GLACIER": "a Glacier Flexible Retrieval restore takes 3-5 hours (Standard) or 5-12 hours (Bulk)",
}


@dataclass
class Entry:
    key: str
    kind: str  # backup | log
    environment: str
    stamp: str  # YYYYMMDD-HHMMSS, the run's UTC timestamp
    size: int
    storage_class: str
    sha256: str | None = None
    retain_until: str | None = None
    roles: Entry | None = None  # a backup's roles object, when it was archived with one
    restore: str = ""  # HEAD's x-amz-restore: a Glacier restore under way, or done
    lock_mode: str | None = None  # Object Lock: the object's own retention (HEAD)
    locked_until: str | None = None

    @property
    def day(self) -> date:
        return datetime.strptime(self.stamp[:8], "%Y%m%d").date()

    @property
    def cold(self) -> str | None:
        """Why this object cannot be read right now, or None (also once a Glacier restore is done)."""
        if 'ongoing-request="false"' in self.restore:
            return None
        return COLD_CLASSES.get(self.storage_class)

    def as_dict(self) -> dict:
        return {**asdict(self), "cold": self.cold, "roles": self.roles.as_dict() if self.roles else None}


def list_entries(
    client,
    bucket: str,
    prefix: str,
    environment: str | None = None,
    since: date | None = None,
    sponsor: str = "",
) -> list[Entry]:
    """Every archived object under ``prefix`` (backups/ or deployments/), newest first."""
    short = ENVIRONMENT_KEYS.get(environment) if environment else None
    entries, roles = [], {}
    for obj in s3_objects.list_after(client, bucket, prefix, None, sponsor):
        entry = entry_for(obj)
        if entry is None or (short and entry.environment != short):
            continue
        if entry.kind == "roles":
            roles[entry.key] = entry
        elif since is None or entry.day >= since:
            entries.append(entry)
    for entry in entries:
        entry.roles = roles.get(roles_key_for(entry.key)) if entry.kind == "backup" else None
    entries.sort(key=lambda e: e.stamp, reverse=True)
    return entries


def entry_for(listed: dict) -> Entry | None:
    """The entry for one listed object (``Key``, ``Size``, ``StorageClass``); None if it is not ours."""
    parsed = parse_key(listed["Key"])
    if parsed is None:
        return None
    return Entry(
        key=listed["Key"],
        kind=parsed.kind,
        environment=parsed.env_key,
        stamp=parsed.stamp,
        size=listed.get("Size", 0),
        storage_class=listed.get("StorageClass", "STANDARD"),
    )


def add_details(client, bucket: str, entries: list[Entry], sponsor: str = "") -> None:
    """Fill in each shown entry's state (HEAD) and tags (a backup's roles object's too).

    HEAD answers for a cold object too: its storage class, whether a Glacier
    restore is under way or done, its Object Lock retention, and the SHA-256
    a log keeps in its metadata. Some stores refuse a cold object's tags; its
    SHA-256 and retain-until then come from HEAD where it has them.
    """
    for entry in entries + [e.roles for e in entries if e.roles is not None]:
        state = s3_objects.head(client, bucket, entry.key, sponsor)
        tags = s3_objects.get_tags(client, bucket, entry.key, sponsor) or {}
        if state is not None:
            entry.storage_class, entry.restore = state.storage_class, state.restore
            entry.lock_mode = state.lock_mode
            entry.locked_until = state.locked_until.isoformat() if state.locked_until else None
        entry.sha256 = _own_sha256(entry, tags, state)
        entry.retain_until = tags.get("retain-until")


def _own_sha256(entry: Entry, tags: dict[str, str], state) -> str | None:
    """The SHA-256 of the entry's own bytes. Older logs' ``sha256`` tag held their backup's, so a log's
    own is taken from what HEAD reads (its checksum, its ``sha256`` metadata), never from the tag."""
    if entry.kind == "log":
        return (state.sha256 or state.metadata.get("sha256")) if state else None
    return tags.get("sha256") or (state.metadata.get("backup-sha256") if state else None)
