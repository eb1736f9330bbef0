"""What was written is what landed: after each write, its tags and checksum are read back, and locked.

Why: S3-compatible stores differ. s3rver keeps an object sent with an
``x-amz-tagging`` header but drops the tags, and answers 200 all the same; a
retention archive whose objects are silently untagged fails its lifecycle and
its auditors years later. So after every write (backup, roles object, log,
chain head, drill report):

- **tags** are read back (GetObjectTagging); any that are missing are set
  again with PutObjectTagging and read back once more; if they still are not
  there, the run fails in one sentence rather than leave an untagged archive;
- **checksum**: where the role may read the object's state (the audit
  bucket), HEAD compares the store's SHA-256 with the one sent, or, on a store
  that keeps none, its ETag (the MD5 of a single PUT) or size. For the backups
  bucket the runner must not read state (HEAD needs s3:GetObject, which would
  let it read clinical data), so the store's answer to the write is compared
  (s3.confirm_checksum, in the adapter);
- **retention**: where the bucket has Object Lock, the object gets its own
  compliance-mode retention until the end of its ``retain-until`` day
  (PutObjectRetention), never shorter than the bucket's default: the lock then
  matches the date the tags and the log promise, also where the bucket's
  default is shorter. Where the state is readable, HEAD confirms it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hht_archival.adapters import s3, s3_objects
from hht_archival.errors import ArchivalError
from hht_archival.naming import add_years, end_of_day


@dataclass(frozen=True)
class Landed:
    """What the read-back found and did."""

    key: str
    tags_set_again: list[str] = field(default_factory=list)  # tag names the store had dropped
    locked_until: datetime | None = None  # the object's own compliance retention, when the bucket locks
    checksum: str = "answer to the write"  # or "HEAD SHA-256", "HEAD ETag (MD5)", "HEAD size"


def write_json(
    client,
    bucket: str,
    key: str,
    body: bytes,
    *,
    what: str,
    tags: Mapping[str, str],
    sponsor: str,
    kms_key_id: str | None = None,
    readable: bool = False,
    retain_until: str | None = None,
    metadata: Mapping[str, str] | None = None,
    content_type: str = "application/json",
) -> Landed:
    """Write a small object, confirm it landed: how each log, roles object, drill or evidence report is kept.

    ``readable`` where the role may read the object's state (the audit bucket),
    so its checksum is compared by HEAD; see the module's docstring.
    """
    s3.put_json(
        client,
        bucket,
        key,
        body,
        tags=tags,
        sponsor=sponsor,
        kms_key_id=kms_key_id,
        metadata=metadata,
        content_type=content_type,
    )
    return confirm(
        client,
        bucket,
        key,
        what=what,
        tags=tags,
        sponsor=sponsor,
        body=body if readable else None,
        readable=readable,
        retain_until=retain_until,
        kms=bool(kms_key_id),
    )


def confirm(
    client,
    bucket: str,
    key: str,
    *,
    what: str,
    tags: Mapping[str, str],
    sponsor: str,
    body: bytes | None = None,
    readable: bool = False,
    retain_until: str | None = None,
    kms: bool = False,
) -> Landed:
    """Read back ``key``'s checksum (when ``readable``) and tags, and lock it until ``retain_until``."""
    where = f"s3://{bucket}/{key}"
    checksum = _check_state(client, bucket, key, what, where, body, sponsor, kms) if readable else None
    dropped = _ensure_tags(client, bucket, key, what, where, tags, sponsor)
    locked = None
    if retain_until:
        locked = _lock(client, bucket, key, what, where, retain_until, sponsor, readable)
    return Landed(key, dropped, locked, checksum or "answer to the write")


def _check_state(client, bucket, key, what, where, body, sponsor, kms) -> str:
    state = s3_objects.head(client, bucket, key, sponsor)
    if state is None:
        raise ArchivalError(
            f"The {what} {where} of sponsor {sponsor} is not in the bucket right after its upload was "
            "acknowledged; the S3 store lost it: check the store before archiving again."
        )
    if body is None:
        return "HEAD"
    sent = hashlib.sha256(body).hexdigest()
    if state.sha256 is not None:
        found, how = (state.sha256, sent), "HEAD SHA-256"
    elif len(state.etag) == 32 and not kms:  # a single PUT's ETag is its MD5 (not under SSE-KMS)
        found, how = (state.etag, hashlib.md5(body, usedforsecurity=False).hexdigest()), "HEAD ETag (MD5)"
    else:
        found, how = (str(state.size), str(len(body))), "HEAD size"
    if found[0] != found[1]:
        raise ArchivalError(
            f"The {what} {where} of sponsor {sponsor} is not what was sent ({how}: stored {found[0]}, "
            f"sent {found[1]}); investigate the S3 store and its versions before archiving again."
        )
    return how


def _ensure_tags(client, bucket, key, what, where, tags, sponsor) -> list[str]:
    """Set again whatever tags the store dropped; one sentence if it will not keep them."""
    found = s3_objects.get_tags(client, bucket, key, sponsor) or {}
    missing = sorted(k for k, v in tags.items() if found.get(k) != v)
    if not missing:
        return []
    try:
        s3.put_tags(client, bucket, key, {**found, **tags}, sponsor)
    except ArchivalError as exc:
        if exc.retryable:
            raise
        raise ArchivalError(
            f"The {what} {where} of sponsor {sponsor} landed without its tag(s) {', '.join(missing)}, and "
            f"setting them again failed ({exc}); a retention archive must not be left untagged."
        ) from exc
    again = s3_objects.get_tags(client, bucket, key, sponsor) or {}
    still = sorted(k for k, v in tags.items() if again.get(k) != v)
    if still:
        raise ArchivalError(
            f"The {what} {where} of sponsor {sponsor} landed without its tag(s) {', '.join(still)}, and the "
            "S3 store did not keep them when they were set again (PutObjectTagging); a retention archive "
            "must not be left untagged: use an S3 store that keeps object tags."
        )
    return missing


def _lock(client, bucket, key, what, where, retain_until, sponsor, readable) -> datetime | None:
    default = s3_objects.lock_default(client, bucket, sponsor)
    if default is None:
        return None
    # Never shorter than the bucket's default (which counts from this write): compliance mode
    # refuses to shorten a retention, and a longer default set by provision must stay longer.
    by_default = add_years(datetime.now(UTC), default.years) + timedelta(days=default.days)  # calendar years
    until = max(end_of_day(retain_until), _next_midnight(by_default))
    s3_objects.put_retention(client, bucket, key, until, sponsor)
    if readable:
        state = s3_objects.head(client, bucket, key, sponsor)
        kept = state.locked_until if state else None
        if state is None or state.lock_mode != "COMPLIANCE" or kept is None or kept < until:
            raise ArchivalError(
                f"The {what} {where} of sponsor {sponsor} did not keep its compliance retention until "
                f"{until:%Y-%m-%d} (found {state.lock_mode if state else None} until {kept}); "
                "check the bucket's Object Lock configuration."
            )
    return until


def _next_midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
