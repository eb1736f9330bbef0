"""The deployment logs' hash chain: each uploaded log names the previous one and its SHA-256.

Why: an auditor must be able to show that no deployment log was removed or
changed after it was written. Versioning and Object Lock keep old versions,
but only a chain shows a *gap*: log N records the key and the SHA-256 of log
N-1 (same sponsor and environment) as it was when N was written, so deleting
or editing any log but the newest breaks a link that ``verify_chain`` reports.
The newest log has no successor to vouch for it; the local copies and the
Prefect runs do.

Runs of one sponsor and environment hold a lock from dump to write_log, so the
chain is linear: no two logs ever claim the same predecessor.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from hht_archival.catalogue import Entry, list_entries
from hht_archival.iam import DEPLOYMENT_LOGS_PREFIX


@dataclass(frozen=True)
class Link:
    key: str | None  # the previous log's key, None for the first log
    sha256: str | None


@dataclass
class ChainReport:
    logs: int = 0
    chained: int = 0  # logs that carry a link (logs from before the chain carry none)
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def previous_link(client, bucket: str, environment: str, log_key: str) -> Link:
    """The newest log of ``environment`` before ``log_key``, and the SHA-256 of its bytes as stored."""
    earlier = [e for e in _logs(client, bucket, environment) if e.key < log_key]
    if not earlier:
        return Link(None, None)
    previous = earlier[-1]
    return Link(previous.key, hashlib.sha256(_read(client, bucket, previous.key)).hexdigest())


def verify_chain(client, bucket: str, environment: str) -> ChainReport:
    """Walk every log of ``environment``, oldest first, and report each broken link in one sentence."""
    report = ChainReport()
    before: Link | None = None
    for entry in _logs(client, bucket, environment):
        body = _read(client, bucket, entry.key)
        report.logs += 1
        try:
            record = json.loads(body)
        except ValueError:
            report.problems.append(
                f"{entry.key} is not valid JSON: it was altered or is not a deployment log."
            )
            record = {}
        if "previous_log_sha256" in record:
            report.chained += 1
            _check_link(
                report, entry.key, Link(record.get("previous_log"), record["previous_log_sha256"]), before
            )
        elif report.chained:
            report.problems.append(
                f"{entry.key} carries no link to the log before it, though earlier logs do: it was "
                "replaced or written by something other than hht-archival."
            )
        before = Link(entry.key, hashlib.sha256(body).hexdigest())
    return report


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
    elif link.sha256 != before.sha256:
        report.problems.append(
            f"{before.key} was changed after {key} was written (its SHA-256 is {before.sha256}, "
            f"the chain recorded {link.sha256})."
        )


def _logs(client, bucket: str, environment: str) -> list[Entry]:
    """The environment's deployment logs, oldest first (keys sort by time)."""
    return sorted(list_entries(client, bucket, DEPLOYMENT_LOGS_PREFIX, environment), key=lambda e: e.key)


def _read(client, bucket: str, key: str) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()
