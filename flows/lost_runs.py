"""A sponsor run whose machine was lost: found by its silence, marked Crashed, so it is started again.

Why here and not in a Prefect automation: nothing is left on a lost machine
to end its run, so Prefect shows it Running for ever. A running flow sends a
``prefect.flow-run.heartbeat`` event every PREFECT_FLOWS_HEARTBEAT_FREQUENCY
(180 s by default). Prefect's documented "zombie" automation (a proactive
trigger on missing heartbeats) was tried and left out: on Prefect 3.9.1 it did
not act on heartbeats for about half a minute after it was created, nor after
a server restart. The nightly that started the run polls it anyway, so it
asks the server's events which of its running runs have been silent for
ARCHIVAL_LOST_AFTER_SECONDS (default 600: over three missed heartbeats).
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

from prefect.client.orchestration import get_client
from prefect.client.schemas.responses import SetStateStatus
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter, EventResourceFilter
from prefect.states import Crashed

LOST_AFTER_VARIABLE = "ARCHIVAL_LOST_AFTER_SECONDS"
LOST_AFTER_SECONDS = 600.0


def lost_after() -> timedelta:
    return timedelta(seconds=float(os.environ.get(LOST_AFTER_VARIABLE) or LOST_AFTER_SECONDS))


class LostRuns:
    """Asks the server's events at most every ``check_seconds`` (a tenth of the silence, at most 30 s),
    though the nightly polls its runs every second: a run lost is found within that much more."""

    def __init__(self):
        self.check_seconds = min(30.0, lost_after().total_seconds() / 10)
        self.checked = float("-inf")

    def mark(self, flow_runs: list) -> None:
        now = time.monotonic()
        if now - self.checked >= self.check_seconds:
            self.checked = now
            mark_lost(flow_runs)


def mark_lost(flow_runs: list) -> None:
    """Mark Crashed each run Running for longer than ``lost_after()`` with no heartbeat in that time.

    Its ``flow_run.state`` is changed in place, so this poll already starts it
    again; a run that ended meanwhile keeps its own ending (no force).
    """
    silence = lost_after()
    since = datetime.now(UTC) - silence
    running = [
        r for r in flow_runs if r.state and r.state.is_running() and r.start_time and r.start_time < since
    ]
    if not running:
        return
    heard = _heard_from([r.id for r in running], since)
    for flow_run in running:
        if flow_run.id in heard:
            continue
        message = (
            f"No heartbeat for {silence.total_seconds():g} s: the worker or machine running it was lost "
            "(its local log, if any, is on that machine)."
        )
        with get_client(sync_client=True) as client:
            result = client.set_flow_run_state(flow_run.id, Crashed(message=message))
        if result.status == SetStateStatus.ACCEPT:
            flow_run.state = result.state


def _heard_from(flow_run_ids: list, since: datetime) -> set:
    """Which of these runs sent a heartbeat since ``since``."""
    resources = {f"prefect.flow-run.{flow_run_id}": flow_run_id for flow_run_id in flow_run_ids}
    heartbeats = EventFilter(
        occurred=EventOccurredFilter(since=since),
        event=EventNameFilter(name=["prefect.flow-run.heartbeat"]),
        resource=EventResourceFilter(id=list(resources)),
    )
    with get_client(sync_client=True) as client:
        page = client.read_events(filter=heartbeats, limit=50)  # the most the API gives a page
        events = list(page.events)
        while page.next_page:
            page = client.read_events_page(str(page.next_page))
            events += page.events
    return {resources[event.resource.id] for event in events if event.resource.id in resources}
