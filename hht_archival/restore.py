"""Restore: fetch an archived backup, prove it is the one archived, and only then load it.

The SHA-256 recorded at upload (in the run's deployment log in the audit bucket,
and on the object's tags) is checked against the downloaded bytes before a
single statement reaches the target. The target is refused when it already
holds tables (unless forced), when it is the sponsor's own production
database (unless the operator says they know), and when it cannot take the
backup's owners (restore_roles.py). The roles the backup needs are created in
the same transaction as its tables (load.py), so it restores on a fresh
cluster, where disaster recovery happens, and not only beside the original.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from hht_archival.adapters import pg_inspect, s3_objects
from hht_archival.adapters.postgres import mask_url, same_database
from hht_archival.catalogue import Entry, add_details, list_entries, log_key_for
from hht_archival.errors import ArchivalError, ConfigError
from hht_archival.load import load_into
from hht_archival.naming import BACKUPS_PREFIX
from hht_archival.restore_roles import RolePlan, fetch_roles, plan_roles, unreadable_target

CHUNK = 1024 * 1024


@dataclass
class Restored:
    key: str
    sha256: str
    size: int
    log: dict | None
    roles: RolePlan
    log_cold: bool = False  # its deployment log was in cold storage: the backup's own tag was used


def choose_backup(entries: list[Entry], spec: str, sponsor: str) -> Entry:
    """``latest``, an exact key, or a date (YYYY-MM-DD: that day's newest)."""
    backups = [e for e in entries if e.kind == "backup"]
    if not backups:
        raise ArchivalError(
            f"No backup is archived for sponsor {sponsor}; run hht-archival run --enable first."
        )
    if spec == "latest":
        return backups[0]
    for entry in backups:
        if entry.key == spec:
            return entry
    try:
        day = date.fromisoformat(spec)
    except ValueError:
        raise ConfigError(
            f"--backup {spec!r} for sponsor {sponsor} is neither 'latest', a date (YYYY-MM-DD) "
            "nor an archived "
            "key; see hht-archival list."
        ) from None
    for entry in backups:
        if entry.day == day:
            return entry
    raise ArchivalError(f"No backup of sponsor {sponsor} was archived on {day}; see hht-archival list.")


def recorded_sha256(
    client, audit_bucket: str, backups_bucket: str, entry: Entry, sponsor: str
) -> tuple[str, dict | None, bool]:
    """The SHA-256 the archive recorded, from the run's log and the object's tag; they must agree.

    The log goes cold (DEEP_ARCHIVE) on the same day as its backup, but is not
    restored with it: then the SHA-256 recorded with the backup itself (its
    ``sha256`` tag) is used, cross-checked with the one the log keeps in its
    metadata (HEAD reads it while the log is cold). Returns (SHA-256, the log
    or None, whether the log was cold).
    """
    add_details(client, backups_bucket, [entry], sponsor)
    log_key = log_key_for(entry.key)
    state = s3_objects.head(client, audit_bucket, log_key, sponsor)  # None: no log (an old backup)
    log_cold = state is not None and state.cold
    body = s3_objects.read(client, audit_bucket, log_key, sponsor) if state and not log_cold else None
    log = json.loads(body) if body else None
    from_log = (log or {}).get("backup_sha256") or (state.metadata.get("backup-sha256") if state else None)
    if from_log and entry.sha256 and from_log != entry.sha256:
        raise ArchivalError(
            f"The SHA-256 of {entry.key} differs between its deployment log and its tag "
            f"for sponsor {sponsor}; "
            "one of them was altered: do not restore it, investigate the audit trail."
        )
    expected = from_log or entry.sha256
    if not expected:
        raise ArchivalError(
            f"No SHA-256 is recorded for {entry.key} (sponsor {sponsor}); it cannot be verified."
        )
    return expected, log, log_cold


def ensure_readable(client, bucket: str, entry: Entry, sponsor: str, request_glacier_restore: bool) -> None:
    """Cold objects must be restored from Glacier first: say so, or start that restore."""
    if not entry.cold:
        return
    state = s3_objects.head(client, bucket, entry.key, sponsor)
    restore = state.restore if state else ""
    if 'ongoing-request="false"' in restore:
        return  # a restored copy is available
    if state is not None and state.restoring:
        raise ArchivalError(
            f"{entry.key} of sponsor {sponsor} is being restored from Glacier; {entry.cold}. Run again later."
        )
    if request_glacier_restore:
        s3_objects.request_restore(client, bucket, entry.key, sponsor)
        raise ArchivalError(
            f"Started the Glacier restore of {entry.key} for sponsor {sponsor}; {entry.cold}. Run the same "
            "command again once it is ready."
        )
    raise ArchivalError(
        f"{entry.key} of sponsor {sponsor} is in {entry.storage_class} and cannot be read yet; {entry.cold}. "
        "Start it with --request-glacier-restore."
    )


def download_verified(client, bucket: str, key: str, expected: str, dest: Path, sponsor: str) -> int:
    """Stream the object to ``dest`` while hashing it; refuse it if the hash is not the recorded one."""
    digest, size = hashlib.sha256(), 0
    with dest.open("wb") as out:
        for chunk in s3_objects.chunks(client, bucket, key, sponsor, CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    if digest.hexdigest() != expected:
        dest.unlink()
        raise ArchivalError(
            f"{key} of sponsor {sponsor} does not match its recorded SHA-256 "
            f"(got {digest.hexdigest()[:16]}..., "
            f"recorded {expected[:16]}...); it was not restored: nothing reached the target. Investigate the "
            "object's versions in S3."
        )
    return size


def check_target(
    target_url: str, production_url: str | None, force: bool, production_ok: bool, sponsor: str
) -> None:
    if production_url and same_database(target_url, production_url) and not production_ok:
        raise ConfigError(
            f"The target {mask_url(target_url)} is sponsor {sponsor}'s own DATABASE_URL; "
            "restoring over production "
            "needs --i-know-this-is-production."
        )
    try:
        tables = pg_inspect.user_table_count(target_url)
    except ArchivalError as exc:
        raise unreadable_target(exc, sponsor) from None
    if tables and not force:
        raise ConfigError(
            f"The target {mask_url(target_url)} already holds {tables} table(s); "
            "restore into an empty database, "
            "or pass --force to load into it anyway."
        )


def restore_backup(
    client,
    config,
    spec: str,
    target_url: str,
    work_dir: Path,
    *,
    force: bool = False,
    production_ok: bool = False,
    request_glacier_restore: bool = False,
    no_owner: bool = False,
    login_roles: bool = False,
) -> Restored:
    """The whole restore, in the order that keeps the target safe: choose, check, download, verify, load.

    ``no_owner`` gives every object to the restoring user and creates no role;
    ``login_roles`` creates missing roles with their archived LOGIN (and password
    hash, if one was archived) instead of NOLOGIN.
    """
    sponsor = config.sponsor
    entries = list_entries(client, config.backups_bucket, BACKUPS_PREFIX, config.environment, sponsor=sponsor)
    entry = choose_backup(entries, spec, sponsor)
    production = config.database_url.get_secret_value() if config.database_url else None
    check_target(target_url, production, force, production_ok, sponsor)
    cold = []  # both are asked for before either is refused, so one Glacier wait covers the two
    for wanted in (entry, entry.roles) if entry.roles else (entry,):
        try:
            ensure_readable(client, config.backups_bucket, wanted, sponsor, request_glacier_restore)
        except ArchivalError as exc:
            cold.append(exc)
    if cold:
        raise cold[0]
    expected, log, log_cold = recorded_sha256(
        client, config.audit_logs_bucket, config.backups_bucket, entry, sponsor
    )
    roles = None if no_owner else fetch_roles(client, config.backups_bucket, entry, log, sponsor)
    plan = plan_roles(target_url, roles, sponsor, no_owner=no_owner, login=login_roles)
    archive = work_dir / Path(entry.key).name
    size = download_verified(client, config.backups_bucket, entry.key, expected, archive, sponsor)
    try:
        load_into(
            archive,
            target_url,
            sponsor,
            prelude=plan.prelude,
            no_owner=no_owner,
            secrets=plan.secrets,
            roles_archived=plan.archived,
        )
    finally:
        archive.unlink(missing_ok=True)
    return Restored(key=entry.key, sha256=expected, size=size, log=log, roles=plan, log_cold=log_cold)
