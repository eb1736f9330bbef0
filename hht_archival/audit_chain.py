"""The deployment logs' hash chain: each uploaded log names the previous one and its SHA-256.

Why: an auditor must be able to show that no deployment log was removed or
changed after it was written. Versioning and Object Lock keep old versions,
but only a chain shows a *gap*: log N records the key and the SHA-256 of log
N-1 (same sponsor and environment) as it was when N was written, so deleting
or editing any log but the newest breaks a link that ``verify_chain`` reports.

Linking must work for seven years, while the lifecycle rule moves every log
to DEEP_ARCHIVE at day 90, where it cannot be read, and must cost the same
on the first night as after ten thousand logs. So nothing here reads an old
log or lists the whole history:

- each log carries its own SHA-256 in its metadata (``x-amz-meta-sha256``),
  which HEAD returns whatever the storage class (and S3 keeps its own SHA-256
  of the bytes, which HEAD returns too where the store keeps checksums);
- a small **chain head** per environment (naming.chain_head_key) names the
  newest log and its SHA-256, in its metadata as well, so it can be read by
  HEAD even if no run wrote it for 90 days and it went cold too. It is a hint,
  not the truth: the next run lists the keys *after* the one it names (one
  request), so a log whose chain head was never updated (a run killed between
  the two writes) is still found and linked.

Why both rather than one: metadata alone still needs a listing of every log
to find the newest (cost grows with the history); a chain head alone cannot
be checked against the log it names once that log is cold. A chain head
rewritten every run stays hot while runs are frequent and is still readable
by HEAD when they are not. ``verify --logs`` never trusts the chain head: it
walks the listing.

Runs of one sponsor and environment hold a lock from dump to write_log, so the
chain is linear: no two logs ever claim the same predecessor.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from hht_archival.adapters import s3, s3_objects
from hht_archival.catalogue import entry_for
from hht_archival.errors import ArchivalError
from hht_archival.naming import DEPLOYMENT_LOGS_PREFIX, ENVIRONMENT_KEYS, chain_head_key

HEAD_LOG_KEY = "log-key"  # metadata of the chain head
HEAD_LOG_SHA256 = "log-sha256"
LOG_SHA256 = "sha256"  # metadata of each log: the SHA-256 of its own bytes


@dataclass(frozen=True)
class Link:
    key: str | None  # the previous log's key, None for the first log
    sha256: str | None


def previous_link(client, bucket: str, environment: str, log_key: str, sponsor: str = "") -> Link:
    """The newest log of ``environment`` before ``log_key``, and its SHA-256, without reading any log.

    Requests: HEAD of the chain head, one listing of the keys after the log it
    names, and a HEAD of the previous log only when the chain head was stale
    or missing (a first run after an upgrade lists every log once).
    """
    pointer = s3_objects.head(client, bucket, chain_head_key(environment), sponsor)
    hint = None
    if pointer is not None and pointer.metadata.get(HEAD_LOG_KEY):
        hint = Link(pointer.metadata[HEAD_LOG_KEY], pointer.metadata.get(HEAD_LOG_SHA256))
    # A chain head at or past this log (another machine's clock ahead) is no help: list them all.
    start = hint.key if hint and hint.key < log_key else None
    listed = s3_objects.list_after(client, bucket, DEPLOYMENT_LOGS_PREFIX, start, sponsor)
    later = [
        entry.key
        for entry in map(entry_for, listed)
        if entry is not None
        and entry.kind == "log"
        and entry.environment == ENVIRONMENT_KEYS[environment]
        and entry.key < log_key
    ]
    if not later:
        return hint if start else Link(None, None)
    newest = max(later)
    return Link(newest, log_sha256(client, bucket, newest, sponsor, environment))


def log_sha256(client, bucket: str, key: str, sponsor: str, environment: str) -> str:
    """A log's SHA-256: S3's own checksum or the log's metadata (both by HEAD), else its bytes if hot."""
    state = s3_objects.head(client, bucket, key, sponsor)
    if state is not None and (state.sha256 or state.metadata.get(LOG_SHA256)):
        return state.sha256 or state.metadata[LOG_SHA256]
    body = s3_objects.read(client, bucket, key, sponsor)
    if body is None:
        raise ArchivalError(
            f"The previous deployment log {key} of sponsor {sponsor} is in cold storage and was written "
            "before logs kept their SHA-256 where HEAD can read it, so it cannot be linked unread; run "
            f"hht-archival verify --logs --sponsor {sponsor} --environment {environment} "
            "--request-glacier-restore, then archive again once it is readable (up to 48 hours)."
        )
    return hashlib.sha256(body).hexdigest()


def advance_head(
    client,
    bucket: str,
    environment: str,
    log_key: str,
    sha256: str,
    *,
    sponsor: str,
    tags: dict[str, str],
    kms_key_id: str | None,
) -> None:
    """Point the chain head at the log just written (its body says the same, for a person)."""
    body = json.dumps({"newest_log": log_key, "sha256": sha256}, indent=2).encode() + b"\n"
    s3.put_json(
        client,
        bucket,
        chain_head_key(environment),
        body,
        tags=tags,
        sponsor=sponsor,
        kms_key_id=kms_key_id,
        metadata={HEAD_LOG_KEY: log_key, HEAD_LOG_SHA256: sha256},
    )
