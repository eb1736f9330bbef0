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
from dataclasses import dataclass, field

from hht_archival.adapters import s3_objects
from hht_archival.audit_chain import LOG_SHA256, Link
from hht_archival.catalogue import Entry, list_entries
from hht_archival.naming import DEPLOYMENT_LOGS_PREFIX


@dataclass
class ChainReport:
    logs: int = 0
    chained: int = 0  # logs that carry a link (logs from before the chain carry none)
    problems: list[str] = field(default_factory=list)
    cold: list[str] = field(default_factory=list)  # logs that could not be read: their links unchecked
    unchecked: int = 0  # links whose SHA-256 could not be compared (neither side readable)

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_chain(client, bucket: str, environment: str, sponsor: str = "") -> ChainReport:
    """Walk every log of ``environment``, oldest first, and report each broken link in one sentence."""
    report = ChainReport()
    before: Link | None = None
    for entry in _logs(client, bucket, environment, sponsor):
        report.logs += 1
        body, state = _body(client, bucket, entry, sponsor)
        if body is None:
            report.cold.append(entry.key)
            state = state or s3_objects.head(client, bucket, entry.key, sponsor)
            sha = (state.sha256 or state.metadata.get(LOG_SHA256)) if state else None
            report.unchecked += 1  # the link this log carries is in its unreadable body
            before = Link(entry.key, sha)
            continue
        try:
            record = json.loads(body)
        except ValueError:
            report.problems.append(
                f"{entry.key} is not valid JSON: it was altered or is not a deployment log."
            )
            record = {}
        if "previous_log_sha256" in record:
            report.chained += 1
            link = Link(record.get("previous_log"), record["previous_log_sha256"])
            _check_link(report, entry.key, link, before)
        elif report.chained:
            report.problems.append(
                f"{entry.key} carries no link to the log before it, though earlier logs do: it was "
                "replaced or written by something other than hht-archival."
            )
        before = Link(entry.key, hashlib.sha256(body).hexdigest())
    return report


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
