"""What the Prefect server itself recorded of a sponsor, for messages and ``status`` when a ledger cannot say.

Why: a ledger (hht_archival/incidents.py) knows only what happened since it was
made, and is made by ``alerts install`` or by a sponsor's first reported run
after it. The server's events know more: every run on it emits its fact
(hht_archival/alert_events.py), alerts installed or not, for as long as the
server keeps events (PREFECT_SERVER_EVENTS_RETENTION_PERIOD, 7 days by
default). So a failure's message names the last good backup archived before
alerts were installed, and ``status`` shows a hash chain checked by a run that
had no ledger to write to, instead of "none recorded" and "not checked yet".
And the runs on the server say what the events cannot yet: an archive still
running, whose backup is newer than anything recorded. Whether alerts are
installed at all is the server's too: the relay automation exists.

Each look-up is one request, made only when a message opens an incident or a
row's ledger is silent; callers treat a failure here as "not known".
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hht_archival import alert_events

LOOK_BACK = timedelta(days=62)  # the server's own retention is usually shorter: it decides
NEWEST_READ = 10  # archived events read to skip anomalous ones


def alerts_installed() -> bool:
    """Whether this server sends what runs report: the relay automation ``alerts install`` made exists."""
    from prefect.client.orchestration import get_client

    from hht_archival.alerts import RELAY

    with get_client(sync_client=True) as client:
        return bool(client.read_automations_by_name(RELAY))


def newest_good_archive(sponsor: str, environment: str) -> dict[str, Any] | None:
    """The newest backup the server saw archived without an anomaly, as a ledger's ``last_good``."""
    for event in _events(sponsor, environment, [alert_events.ARCHIVED], NEWEST_READ):
        payload = event.payload or {}
        if not payload.get("anomalies") and payload.get("location"):
            return {key: payload.get(key) for key in ("at", "location", "size", "run_url")}
    return None


def last_chain_check(sponsor: str, environment: str) -> dict[str, Any] | None:
    """The newest walk of the hash chain: ``{"at": ..., "broken": bool, "logs": n}``, or None."""
    names = [alert_events.CHAIN_VERIFIED, alert_events.CHAIN_BROKEN]
    for event in _events(sponsor, environment, names, 1):
        payload = event.payload or {}
        return {
            "at": alert_events.iso(event.occurred),
            "broken": event.event == alert_events.CHAIN_BROKEN,
            "logs": payload.get("logs"),
        }
    return None


def archive_running(sponsor: str, environment: str, this_run: str | None) -> dict[str, Any] | None:
    """Another archive of this pair that is running now (its backup is not recorded until it ends)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterName,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.utilities.urls import url_for

    wanted = FlowRunFilter(
        name=FlowRunFilterName(any_=[f"archive-{sponsor}-{environment}"]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])),
    )
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=wanted, limit=5)
    runs = [run for run in runs if str(run.id) != this_run]
    if not runs:
        return None
    run = min(runs, key=lambda r: r.start_time or r.expected_start_time)
    started = run.start_time or run.expected_start_time
    return {
        "started": alert_events.iso(started) if started else None,
        "run_url": url_for("flow-run", obj_id=run.id) or f"flow run {run.id}",
    }


def _events(sponsor: str, environment: str, names: list[str], limit: int) -> list:
    from prefect.client.orchestration import get_client
    from prefect.events.filters import (
        EventFilter,
        EventNameFilter,
        EventOccurredFilter,
        EventResourceFilter,
    )

    now = alert_events.now_utc()
    wanted = EventFilter(
        occurred=EventOccurredFilter(since=now - LOOK_BACK, until=now),
        event=EventNameFilter(name=names),
        resource=EventResourceFilter(id=[alert_events.resource_id(sponsor, environment)]),
    )
    with get_client(sync_client=True) as client:
        events = client.read_events(filter=wanted, limit=limit).events
    return sorted(events, key=lambda e: e.occurred, reverse=True)
