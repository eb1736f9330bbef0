"""What went wrong, and when: the incidents and the gaps of an evidence report's period.

From S3 alone (the runs' deployment logs, hht_archival/evidence/facts.py):

- **failed**: consecutive failed runs are one incident, as the alerts' ledger
  counts them (hht_archival/incidents.py): it starts at the first failure and
  is recovered by the next archived run; its message is the first failure's
  sentence;
- **anomalous**: each archived backup is held to the recent ones with the
  check its run made (anomaly.find_anomalies, the ARCHIVAL_ANOMALY_* settings
  now in force), from the sizes in the listing and the row counts in the logs;
- **gaps**: days without a successful archive.

The Prefect server adds what S3 cannot know (server.py): crashed and
cancelled runs, which leave no log, and the incidents as they were paged. An
incident found both ways is listed once, with both sources.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from hht_archival.anomaly import find_anomalies
from hht_archival.history import Archived
from hht_archival.naming import backup_extension

S3_LOGS = "S3 deployment logs"
SERVER = "Prefect server"


@dataclass
class IncidentFact:
    kind: str  # failed, anomalous, stale, crashed, cancelled; drill failed, chain broken
    start: str  # ISO 8601 UTC
    recovery: str | None  # when it ended (the next good run), None if still open at the period's end
    message: str
    runs: int = 1
    sources: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def from_runs(runs: list, size_fraction: float, row_drop: float, history: int) -> list[IncidentFact]:
    """Failed and anomalous incidents of ``runs`` (oldest first), from what their logs and listing say."""
    incidents: list[IncidentFact] = []
    open_: dict[str, IncidentFact] = {}
    archived: list[Archived] = []  # newest first, as find_anomalies takes them
    for run in runs:
        if run.status == "failed":
            _extend(incidents, open_, "failed", run.time, run.error or "no reason recorded")
            continue
        if run.status != "archived":
            continue
        _close(open_, "failed", run.time)
        found = find_anomalies(
            run.size or 0,
            backup_extension(run.backup_key),
            run.table_counts,
            archived[:history],
            size_fraction,
            row_drop,
        )
        run.anomalies = [a.sentence for a in found]
        if found:
            _extend(incidents, open_, "anomalous", run.time, "; ".join(a.sentence for a in found))
        else:
            _close(open_, "anomalous", run.time)
        recorded = Archived.recorded(run.log_key or "", run.time, run.backup_key, run.size, run.table_counts)
        archived.insert(0, recorded)
    return incidents


def _extend(incidents, open_, kind: str, at: str, message: str, source: str = S3_LOGS) -> None:
    current = open_.get(kind)
    if current is not None:
        current.runs += 1
        return
    open_[kind] = IncidentFact(kind, at, None, message, 1, [source])
    incidents.append(open_[kind])


def extend(incidents, open_, kind: str, at: str, message: str, source: str) -> None:
    """Count a run of ``kind`` into the open incident of that kind, or open one (for server.py)."""
    _extend(incidents, open_, kind, at, message, source)


def close(open_, kind: str, at: str) -> None:
    """A good run at ``at`` recovers the open incident of ``kind``, if any."""
    _close(open_, kind, at)


def _close(open_, kind: str, at: str) -> None:
    current = open_.pop(kind, None)
    if current is not None:
        current.recovery = at


def gaps(runs: list, first: date, last: date) -> list[dict[str, Any]]:
    """Each stretch of days from ``first`` to ``last`` without a successful archive (a cold log whose backup
    is in the bucket counts as one: the backup is there)."""
    good = {run.day for run in runs if run.status == "archived" or (run.status == "unknown" and run.size)}
    found, start = [], None
    day = first
    while day <= last + timedelta(days=1):
        missing = day <= last and day not in good
        if missing and start is None:
            start = day
        elif not missing and start is not None:
            end = day - timedelta(days=1)
            found.append({"from": start.isoformat(), "to": end.isoformat(), "days": (end - start).days + 1})
            start = None
        day += timedelta(days=1)
    return found


def merge(s3_incidents: list[IncidentFact], server_incidents: list[IncidentFact]) -> list[IncidentFact]:
    """S3's incidents, each the server also knew marked so, then those only the server knew; by start."""
    merged = list(s3_incidents)
    for incident in server_incidents:
        same = next((i for i in merged if i.kind == incident.kind and _overlaps(i, incident)), None)
        if same is None:
            merged.append(incident)
            continue
        if SERVER not in same.sources:
            same.sources.append(SERVER)
        same.recovery = same.recovery or incident.recovery
    return sorted(merged, key=lambda i: i.start)


def _overlaps(a: IncidentFact, b: IncidentFact) -> bool:
    """Whether ``b`` started while ``a`` was open (or within a day of its start: clocks and runs differ)."""
    a_start, b_start = a.start[:10], b.start[:10]
    a_end = (a.recovery or "9999")[:10]
    apart = abs(date.fromisoformat(a_start) - date.fromisoformat(b_start)).days
    return a_start <= b_start <= a_end or apart <= 1
