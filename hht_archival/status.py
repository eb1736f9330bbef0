"""``status``: one line per sponsor and environment, from the archive itself and the alerts' ledgers.

The last archive (when, size, trend against the recent median) comes from the
deployment logs in the audit bucket, which are the record (hht_archival/history.py);
the last drill, the chain's last check, the expectations and the open incidents
come from the ledgers ``alerts install`` keeps on the Prefect server
(hht_archival/incidents.py), so without a configured server those say so. The
same rows are the ``archive-status`` table artifact (flows/status.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from hht_archival import alert_events
from hht_archival.drill_setting import drill_expectation, last_drill_cell
from hht_archival.incidents import open_in
from hht_archival.progress import human_size

HISTORY = 7  # backups the trend's median is taken over


@dataclass
class StatusRow:
    sponsor: str
    environment: str
    archival: str  # enabled, disabled
    last_archive: str | None = None  # ISO time of the newest archived backup
    age_hours: float | None = None
    size: int | None = None
    trend: str | None = None
    location: str | None = None
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
            f"{_age(self.age_hours)} ago ({alert_events.shown(self.last_archive)})"
            if self.last_archive
            else (self.error or "none yet")
        )
        size = f"{human_size(self.size)}{f' ({self.trend})' if self.trend else ''}" if self.size else "-"
        return [
            f"{self.sponsor} ({self.environment})",
            self.archival,
            archive if self.archival == "enabled" else "-",
            size,
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
    "last drill",
    "chain",
    "expectations",
    "incidents",
]


def build_row(config, enabled: bool, ledgers: dict[str, dict | None] | None) -> StatusRow:
    """One pair's row; ``ledgers`` is None without a Prefect server to read them from."""
    row = StatusRow(config.sponsor, config.environment, "enabled" if enabled else "disabled")
    if not enabled:
        row.last_drill = row.chain = row.expectations = "-"
        return row
    _archive_columns(config, row)
    if ledgers is None:
        row.last_drill = row.chain = row.expectations = "needs the Prefect server (PREFECT_API_URL)"
        return row
    archive, drill, chain = (ledgers.get(f) or {} for f in ("archive", "drill", "chain"))
    row.last_drill = _drill_cell(config, drill)
    row.chain = _open_or_good(chain, "broken", "broken since {}", "intact (checked {})", "not checked yet")
    row.expectations = _expectations(row, archive, drill, config)
    row.incidents = [incident.brief for incident in open_in(ledgers, config.sponsor, config.environment)]
    row.attention = row.attention or bool(row.incidents) or "MISSED" in row.expectations
    return row


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
        row.age_hours = round((alert_events.now_utc() - moment).total_seconds() / 3600, 1)
    median, over = median_size(archives[1:], newest.extension)
    if median and newest.size:
        row.trend = f"{newest.size / median - 1:+.0%} vs median of {over}"


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
        parts.append(
            f"{what} MISSED ({_age(waited / 3600)} since the last, every {_age(every / 3600)})"
            if waited > every
            else f"{what} ok"
        )
    parts.append(drill_expectation(config, drill, _age))  # never "ok" for a drill that never ran
    return ", ".join(filter(None, parts)) or "unknown"


def _drill_cell(config, drill: dict) -> str:
    """The last drill, or "drills not configured (set ...)" where the sponsor has no scratch server."""
    return last_drill_cell(config, drill) or _open_or_good(
        drill, "failed", "failed since {}", "passed {}", "none recorded"
    )


def _age(hours: float | None) -> str:
    if hours is None:
        return "unknown"
    if hours < 1:
        return f"{hours * 60:.0f} min" if hours * 60 >= 1 else f"{hours * 3600:.0f} s"
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} d"


def read_ledgers(sponsor: str, environment: str) -> dict[str, dict | None] | None:
    """The pair's three ledgers from the configured Prefect server; None when there is none to ask."""
    from hht_archival.engine import configured_api_url, embedded_api_in_use
    from hht_archival.incidents import read_ledgers as read_from_prefect

    if configured_api_url() is None or embedded_api_in_use():
        return None
    return read_from_prefect(sponsor, environment)
