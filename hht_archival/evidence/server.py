"""What only the Prefect server knows of a period, for an evidence report: crashed runs and paged incidents.

Why it is optional: S3 is the record (hht_archival/evidence/facts.py); a server may
be gone, new, or keep its events only a week (PREFECT_SERVER_EVENTS_RETENTION_PERIOD).
So the report asks the configured server for what S3 cannot know, says
whether it could, and never fails because the server did not answer:

- the archive runs of the pair (flow runs ``archive-{sponsor}-{environment}``):
  a crashed or cancelled run leaves no deployment log, and each run's
  deployment (nightly, pre-deploy, on-demand) is the server's to name;
- the incidents as they were paged (``hht.incident.opened``/``resolved``
  events, hht_archival/incidents.py): stale archives and drills, broken chains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hht_archival import alert_events
from hht_archival.evidence.incidents import SERVER, IncidentFact, close, extend

PAGE = 200  # flow runs a request
EVENTS_PAGE = 50  # the most the events API answers at once
OUTCOMES = {"COMPLETED": "archived", "FAILED": "failed", "CRASHED": "crashed", "CANCELLED": "cancelled"}


@dataclass
class ServerHistory:
    answered: bool
    why_not: str = ""
    incidents: list[IncidentFact] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)  # time, outcome, flow_run_id, deployment


def server_history(sponsor: str, environment: str, start: datetime, end: datetime) -> ServerHistory:
    """The configured server's record of the pair from ``start`` to ``end``; never raises."""
    from hht_archival.engine import configured_api_url, embedded_api_in_use

    if configured_api_url() is None or embedded_api_in_use():
        return ServerHistory(False, "no Prefect server is configured (PREFECT_API_URL)")
    try:
        runs = _runs(sponsor, environment, start, end)
        incidents = _from_runs(runs) + _paged(sponsor, environment, start, end)
    except Exception as exc:  # the report stands on S3; say why the server added nothing
        why = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}" if str(exc) else type(exc).__name__
        where = _without_userinfo(configured_api_url() or "")
        return ServerHistory(
            False, f"the Prefect server at {where} did not answer ({_without_userinfo(why)})"
        )
    return ServerHistory(True, "", incidents, runs)


def _without_userinfo(text: str) -> str:
    """A URL's ``user:password@`` never reaches the report: it is kept 7 years and shown to inspectors."""
    return re.sub(r"//[^/@\s]+@", "//", text)


def _runs(sponsor: str, environment: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    # By name only: a run that crashed before it started has no start time, and one not scheduled no
    # expected start time; the period is applied below to whichever time the run has.
    wanted = FlowRunFilter(name=FlowRunFilterName(any_=[f"archive-{sponsor}-{environment}"]))
    found, names = [], {}
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_flow_runs(
                flow_run_filter=wanted,
                sort=FlowRunSort.ID_DESC,
                limit=PAGE,
                offset=len(found),
            )
            found.extend(page)
            if len(page) < PAGE:
                break
        for run in found:
            if run.deployment_id and run.deployment_id not in names:
                names[run.deployment_id] = client.read_deployment(run.deployment_id).name
    runs = []
    for run in found:
        moment = run.start_time or run.expected_start_time or run.created
        if moment is None or not start <= moment <= end:
            continue
        state = run.state
        outcome = OUTCOMES.get(state.type.name if state else "", "running")
        if outcome == "archived" and state is not None and state.name == "Anomalous":
            outcome = "anomalous"
        runs.append(
            {
                "time": alert_events.iso(moment),
                "outcome": outcome,
                "message": (state.message if state else None) or "",
                "flow_run_id": str(run.id),
                "deployment": names.get(run.deployment_id),
            }
        )
    return sorted(runs, key=lambda r: r["time"])


def _from_runs(runs: list[dict[str, Any]]) -> list[IncidentFact]:
    """Crashed and cancelled runs (each its own incident), failed and anomalous ones (grouped as S3's are)."""
    incidents: list[IncidentFact] = []
    open_: dict[str, IncidentFact] = {}
    for run in runs:
        outcome, at = run["outcome"], run["time"]
        if outcome in ("crashed", "cancelled"):
            message = run["message"] or f"the run was {outcome}"
            extend(incidents, open_, outcome, at, message, SERVER)
        elif outcome in ("failed", "anomalous"):
            extend(incidents, open_, outcome, at, run["message"] or f"the run ended {outcome}", SERVER)
        if outcome in ("archived", "anomalous"):
            for kind in ("crashed", "cancelled", "failed"):
                close(open_, kind, at)
        if outcome == "archived":
            close(open_, "anomalous", at)
    return incidents


def _paged(sponsor: str, environment: str, start: datetime, end: datetime) -> list[IncidentFact]:
    """The incidents the alerts paged: opened events, each with the resolved event that ended it."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter, EventResourceFilter

    wanted = EventFilter(
        occurred=EventOccurredFilter(since=start, until=end),
        event=EventNameFilter(name=[alert_events.INCIDENT_OPENED, alert_events.INCIDENT_RESOLVED]),
        resource=EventResourceFilter(id=[alert_events.resource_id(sponsor, environment)]),
    )
    events = []
    with get_client(sync_client=True) as client:
        page = client.read_events(filter=wanted, limit=EVENTS_PAGE)
        events.extend(page.events)
        while page.next_page:
            page = client.read_events_page(page.next_page)
            events.extend(page.events)
    opened: dict[tuple, IncidentFact] = {}
    for event in sorted(events, key=lambda e: e.occurred):
        payload = event.payload or {}
        kind = _kind(payload)
        since = payload.get("since") or alert_events.iso(event.occurred)
        if event.event == alert_events.INCIDENT_OPENED:
            opened[(kind, since)] = IncidentFact(kind, since, None, _what(payload), 1, [SERVER])
        elif (kind, since) in opened:
            opened[(kind, since)].recovery = alert_events.iso(event.occurred)
        else:  # opened before the period, or a gap noticed only when it closed (stale)
            opened[(kind, since)] = IncidentFact(
                kind, since, alert_events.iso(event.occurred), _what(payload), 1, [SERVER]
            )
    return list(opened.values())


def _kind(payload: dict) -> str:
    family, kind = payload.get("family", "archive"), payload.get("kind", "unknown")
    return kind if family == "archive" else f"{family} {kind}"


def _what(payload: dict) -> str:
    """The message's "What is wrong" line, as it was sent; else its subject."""
    for line in str(payload.get("body") or "").splitlines():
        if line.startswith("What is wrong:") or line.startswith("Resolved:"):
            return line.split(":", 1)[1].strip()
    return str(payload.get("subject") or "")
