"""``status``: one line per sponsor and environment, from the archive itself and the alerts' ledgers.

The last archive (when, size, trend against the recent median) comes from the
deployment logs in the audit bucket, which are the record (hht_archival/history.py);
the last drill, the chain's last check, the expectations and the open incidents
come from the ledgers ``alerts install`` keeps on the Prefect server
(hht_archival/incidents.py), so without a configured server those say so. The
same rows are the ``archive-status`` table artifact (flows/status.py).

Each column says what is known: ages to the minute (a rounded tenth of an hour
said "0 s ago" of a 3-minute-old archive), no "-0%" trend, a sponsor's archives
whatever its flag says now, "not checked" only when no walk is recorded anywhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from hht_archival import alert_events
from hht_archival.drill_setting import drill_expectation, last_drill_cell
from hht_archival.incidents import open_in
from hht_archival.progress import human_size
from hht_archival.status_copies import copies_cell

HISTORY = 7  # backups the trend's median is taken over


@dataclass
class StatusRow:
    sponsor: str
    environment: str
    archival: str  # enabled, disabled
    last_archive: str | None = None  # ISO time of the newest archived backup
    age_hours: float | None = None
    age_minutes: int | None = None  # what the table shows, to the minute
    size: int | None = None
    trend: str | None = None
    location: str | None = None
    copies: str = "one"  # a second destination's state (hht_archival/status_copies.py)
    last_drill: str = "unknown"
    chain: str = "unknown"
    expectations: str = "unknown"
    incidents: list[str] = field(default_factory=list)
    error: str | None = None
    attention: bool = False  # an open incident, a missed expectation or an unreadable archive

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def cells(self) -> list[str]:
        archive = (
            f"{age(60 * self.age_minutes)} ago ({alert_events.shown(self.last_archive)})"
            if self.last_archive and self.age_minutes is not None
            else (self.error or "none yet")
        )
        size = f"{human_size(self.size)}{f' ({self.trend})' if self.trend else ''}" if self.size else "-"
        return [
            f"{self.sponsor} ({self.environment})",
            self.archival,
            archive,
            size,
            self.copies,
            self.last_drill,
            self.chain,
            self.expectations,
            "; ".join(self.incidents) or "none",
        ]


HEADER = [
    "sponsor",
    "archival",
    "last archive",
    "size (trend)",
    "copies",
    "last drill",
    "chain",
    "expectations",
    "incidents",
]


def build_row(
    config, enabled: bool, ledgers: dict[str, dict | None] | None, walked: dict | None = None
) -> StatusRow:
    """One pair's row; ``ledgers`` is None without a Prefect server, ``walked`` the chain walk this run
    made (flows/status.py). A sponsor whose archival is off now is shown all the same (its backups
    stay for 7 years), but nothing is expected of it and nothing about it needs attention."""
    row = StatusRow(config.sponsor, config.environment, "enabled" if enabled else "disabled")
    _archive_columns(config, row)
    row.copies, behind = copies_cell(config, row.last_archive)
    row.attention = row.attention or behind
    if ledgers is None:
        row.last_drill = row.expectations = "needs the Prefect server (PREFECT_API_URL)"
        row.chain = _walked(walked) or row.expectations
        row.attention = row.attention and enabled
        return row
    archive, drill, chain = (ledgers.get(f) or {} for f in ("archive", "drill", "chain"))
    row.last_drill = _drill_cell(config, drill)
    row.chain = _chain(chain, walked, config.sponsor, config.environment)
    row.expectations = (
        _expectations(row, archive, drill, config) if enabled else "none (archival is disabled)"
    )
    row.incidents = [incident.brief for incident in open_in(ledgers, config.sponsor, config.environment)]
    row.attention = enabled and (row.attention or bool(row.incidents) or "MISSED" in row.expectations)
    return row


def _chain(ledger: dict, walked: dict | None, sponsor: str, environment: str) -> str:
    """An open incident, else the walk this run made, else the last check recorded (the ledger's, the
    server's events); "not checked" only when none is."""
    if (ledger.get("open") or {}).get("broken"):
        return _open_or_good(ledger, "broken", "broken since {}", "", "")
    if walked and not walked.get("error"):
        return _walked(walked)
    earlier = _walked(_last_check(ledger, sponsor, environment))
    if walked:  # this run could not read the chain: what an earlier walk found still stands
        return f"{earlier}; {_walked(walked)}" if earlier else _walked(walked)
    return earlier or "not checked yet (hht-archival status --publish walks it)"


def _last_check(ledger: dict, sponsor: str, environment: str) -> dict | None:
    if (ledger.get("last_good") or {}).get("at"):
        return {"at": ledger["last_good"]["at"], "broken": False}
    try:
        from hht_archival.recorded import last_chain_check

        return last_chain_check(sponsor, environment)
    except Exception:  # the server did not answer this one question: say what is known
        return None


def _walked(walk: dict | None) -> str | None:
    if not walk:
        return None
    if walk.get("error"):
        return f"not checked: {walk['error']}"
    state = "broken (found {})" if walk.get("broken") else "intact (checked {})"
    return state.format(alert_events.shown(walk.get("at")))


def _open_or_good(ledger: dict, kind: str, opened: str, good: str, never: str) -> str:
    """An open incident of ``kind`` outranks the last good check; a ledger with neither says so."""
    incident = (ledger.get("open") or {}).get(kind)
    if incident:
        return opened.format(alert_events.shown(incident["since"]))
    last_good = (ledger.get("last_good") or {}).get("at")
    return good.format(alert_events.shown(last_good)) if last_good else never


def render(rows: list[StatusRow]) -> str:
    table = [HEADER] + [row.cells() for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    lines = ("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in table)
    return "\n".join(line.rstrip() for line in lines)


def _archive_columns(config, row: StatusRow) -> None:
    from hht_archival.adapters import s3
    from hht_archival.errors import ArchivalError
    from hht_archival.history import median_size, recent_archives

    try:
        client = s3.client_for(config)
        archives = recent_archives(
            client, config.audit_logs_bucket, config.environment, HISTORY + 1, config.sponsor
        )
    except ArchivalError as exc:  # worded by the adapter, the sponsor named
        row.error = f"unreadable: {exc}"
        row.attention = True
        return
    if not archives:
        return
    newest = archives[0]
    row.last_archive, row.size, row.location = newest.timestamp, newest.size, newest.backup_location
    moment = alert_events.parse_iso(newest.timestamp)
    if moment:
        seconds = max(0.0, (alert_events.now_utc() - moment).total_seconds())
        row.age_hours, row.age_minutes = round(seconds / 3600, 3), _minutes(seconds)
    median, over = median_size(archives[1:], newest.extension)
    if median and newest.size:
        row.trend = trend(newest.size, median, over)


def trend(size: int, median: float, over: int) -> str:
    """``-83% vs median of 7``; a change that rounds to nothing is ``0%`` (never ``-0%``)."""
    change = round((size / median - 1) * 100)
    against = "the previous backup" if over == 1 else f"median of {over}"
    return f"{f'{change:+d}%' if change else '0%'} vs {against}"


def _expectations(row: StatusRow, archive: dict, drill: dict, config) -> str:
    if not archive.get("every_seconds"):
        return "none (hht-archival alerts install)"
    parts = []
    for what, ledger, last in (("archive", archive, row.last_archive or archive.get("watched_since")),):
        every = ledger.get("every_seconds")
        moment = alert_events.parse_iso(last)
        if not every or moment is None:
            continue
        waited = (alert_events.now_utc() - moment).total_seconds()
        missed = f"{what} MISSED ({age(waited)} since the last, every {age(every)})"
        parts.append(missed if waited > every else f"{what} ok")
    parts.append(drill_expectation(config, drill, lambda hours: age(hours * 3600)))  # never "ok" unrun
    return ", ".join(filter(None, parts)) or "unknown"


def _drill_cell(config, drill: dict) -> str:
    """The last drill, or "drills not configured (set ...)" where the sponsor has no scratch server."""
    return last_drill_cell(config, drill) or _open_or_good(
        drill, "failed", "failed since {}", "passed {}", "none recorded"
    )


def age(seconds: float) -> str:
    """How long ago, to the minute: ``under a minute``, ``7 min`` (6½), ``3 h 5 min``, ``2 d 4 h``."""
    minutes = _minutes(seconds)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _minutes(seconds: float) -> int:
    return int(max(0.0, seconds) / 60 + 0.5)  # to the nearest minute, a half up


def read_ledgers(sponsor: str, environment: str) -> dict[str, dict | None] | None:
    """The pair's three ledgers from the configured Prefect server; None when there is none to ask."""
    from hht_archival.engine import configured_api_url, embedded_api_in_use
    from hht_archival.incidents import read_ledgers as read_from_prefect

    if configured_api_url() is None or embedded_api_in_use():
        return None
    return read_from_prefect(sponsor, environment)
