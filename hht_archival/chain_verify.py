"""``verify --logs``: walk every deployment log of an environment and report each broken link.

The walk follows the bucket's listing, never the chain head a run uses as a
hint (audit_chain.py), so a forged or stale chain head cannot hide a gap.

Cold logs (DEEP_ARCHIVE after day 90, not restored) cannot be read: the link
each of them *carries* (in its body) is left unchecked and the log is named,
so its Glacier restore can be asked for; the link *to* each of them is still
checked, by the SHA-256 that HEAD reads from S3's checksum or the log's
metadata. Cold storage is never reported as a broken chain or a permission
problem.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

from hht_archival.adapters import s3_objects
from hht_archival.audit_chain import LOG_SHA256, Link
from hht_archival.catalogue import Entry, list_entries
from hht_archival.naming import DEPLOYMENT_LOGS_PREFIX

READERS = 8  # logs read at once: each read waits on S3 (tens of ms on AWS); the client keeps 10 connections


@dataclass
class ChainReport:
    logs: int = 0
    chained: int = 0  # logs that carry a link (logs from before the chain carry none)
    problems: list[str] = field(default_factory=list)
    cold: list[str] = field(default_factory=list)  # logs that could not be read: their links unchecked
    unchecked: int = 0  # links whose SHA-256 could not be compared (neither side readable)
    records: dict[str, dict] = field(default_factory=dict)  # each readable log's record, by key
    heads: dict[str, s3_objects.ObjectHead] = field(default_factory=dict)  # what HEAD read of each cold log
    before_window: str | None = None  # with a window: the log before it, whose SHA-256 the first link holds

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_chain(
    client,
    bucket: str,
    environment: str,
    sponsor: str = "",
    since: date | None = None,
    until: date | None = None,
) -> ChainReport:
    """Walk every log of ``environment``, oldest first, and report each broken link in one sentence.

    ``since``/``until`` (days, inclusive) walk only the logs of that window: the
    first one's link is checked against the log before the window, read by HEAD
    (one request), so a window is as strict as the whole walk. The logs are
    read a few at a time (READERS) and checked in order; the records read are
    kept in the report (``records``, ``heads``) for whoever reports on them
    (hht_archival/evidence/facts.py), so nothing is read twice.
    """
    report = ChainReport()
    listed = _logs(client, bucket, environment, sponsor)
    window = [e for e in listed if (since is None or e.day >= since) and (until is None or e.day <= until)]
    before: Link | None = None
    earlier = [e for e in listed if window and e.key < window[0].key]
    if since is not None and earlier:
        previous = earlier[-1].key
        report.before_window = previous
        before = Link(previous, _sha256_by_head(client, bucket, previous, sponsor))
    with ThreadPoolExecutor(READERS) as readers:
        fetched = readers.map(lambda entry: _body(client, bucket, entry, sponsor), window)
        for entry, (body, state) in zip(window, fetched, strict=True):
            before = _walk_one(client, bucket, entry, body, state, before, report, sponsor)
    return report


def _walk_one(client, bucket, entry: Entry, body, state, before: Link | None, report, sponsor) -> Link:
    """Check the link ``entry`` carries against the log before it; return the link to ``entry``."""
    report.logs += 1
    if body is None:
        report.cold.append(entry.key)
        state = state or s3_objects.head(client, bucket, entry.key, sponsor)
        if state is not None:
            report.heads[entry.key] = state
        sha = (state.sha256 or state.metadata.get(LOG_SHA256)) if state else None
        report.unchecked += 1  # the link this log carries is in its unreadable body
        return Link(entry.key, sha)
    try:
        record = json.loads(body)
    except ValueError:
        report.problems.append(f"{entry.key} is not valid JSON: it was altered or is not a deployment log.")
        record = {}
    if not isinstance(record, dict):
        record = {}
    report.records[entry.key] = record
    if "previous_log_sha256" in record:
        report.chained += 1
        link = Link(record.get("previous_log"), record["previous_log_sha256"])
        _check_link(report, entry.key, link, before)
    elif report.chained:
        report.problems.append(
            f"{entry.key} carries no link to the log before it, though earlier logs do: it was "
            "replaced or written by something other than hht-archival."
        )
    return Link(entry.key, hashlib.sha256(body).hexdigest())


def _sha256_by_head(client, bucket: str, key: str, sponsor: str) -> str | None:
    """A log's SHA-256 by HEAD (S3's checksum, else its metadata), else of its bytes; None if cold."""
    state = s3_objects.head(client, bucket, key, sponsor)
    if state is not None and (state.sha256 or state.metadata.get(LOG_SHA256)):
        return state.sha256 or state.metadata[LOG_SHA256]
    body = s3_objects.read(client, bucket, key, sponsor)
    return hashlib.sha256(body).hexdigest() if body is not None else None


def _body(client, bucket: str, entry: Entry, sponsor: str):
    """(the log's bytes or None while it is cold, its HEAD if one was needed to tell).

    A listing shows a restored copy in its Glacier class too: HEAD says whether it is readable.
    """
    state = None
    if entry.cold:
        state = s3_objects.head(client, bucket, entry.key, sponsor)
        if state is not None and state.cold:
            return None, state
    return s3_objects.read(client, bucket, entry.key, sponsor), state


def _check_link(report: ChainReport, key: str, link: Link, before: Link | None) -> None:
    if before is None:
        if link.key is not None:
            report.problems.append(
                f"{key} follows {link.key}, which is no longer in the bucket: "
                "the log(s) before it were removed."
            )
        return
    if link.key != before.key:
        report.problems.append(
            f"{key} follows {link.key or 'nothing'}, but the log before it in the bucket is {before.key}: "
            "a log was removed or added between them."
        )
    elif before.sha256 is None:
        report.unchecked += 1  # a cold log written before logs kept their SHA-256 readable by HEAD
    elif link.sha256 != before.sha256:
        report.problems.append(
            f"{before.key} was changed after {key} was written (its SHA-256 is {before.sha256}, "
            f"the chain recorded {link.sha256})."
        )


def _logs(client, bucket: str, environment: str, sponsor: str) -> list[Entry]:
    """The environment's deployment logs, oldest first (keys sort by time)."""
    listed = list_entries(client, bucket, DEPLOYMENT_LOGS_PREFIX, environment, sponsor=sponsor)
    return sorted(listed, key=lambda e: e.key)


def request_restores(client, bucket: str, keys: list[str], sponsor: str) -> None:
    """Ask Glacier for a readable copy of each cold log (Bulk, kept 7 days)."""
    for key in keys:
        s3_objects.request_restore(client, bucket, key, sponsor)
