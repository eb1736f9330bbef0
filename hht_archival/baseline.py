"""What a new backup is compared with: the sponsor's recent ``hht.archive.archived`` events in Prefect.

Why Prefect's events and not the deployment logs in S3: each archive run
already tells Prefect what it archived (size, key, every table's row count:
hht_archival/outcomes.py), so the history is there without one more S3
request. An archive run's S3 requests stay the same on the first night and
after ten thousand logs (hht_archival/audit_chain.py holds runs to that, and
tests/test_cold_archive.py checks it), and the archival role needs no new
right. The logs remain the record; ``status`` reads those.

How far back it sees is the Prefect server's event retention
(PREFECT_SERVER_EVENTS_RETENTION_PERIOD, 7 days by default): enough for a
nightly's median of 7; raise it for sponsors archived weekly. A command run
without a Prefect server (the API it starts for itself) has no history, so
no baseline.
"""

from __future__ import annotations

from datetime import timedelta

from hht_archival import alert_events
from hht_archival.history import Archived

LOOK_BACK = timedelta(days=62)


def recent_archives(sponsor: str, environment: str, limit: int) -> list[Archived]:
    """Up to ``limit`` archived backups of this sponsor and environment, newest first, from Prefect."""
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
        event=EventNameFilter(name=[alert_events.ARCHIVED]),
        resource=EventResourceFilter(id=[alert_events.resource_id(sponsor, environment)]),
    )
    with get_client(sync_client=True) as client:
        events = client.read_events(filter=wanted, limit=limit).events
    payloads = [event.payload or {} for event in events]
    return [
        Archived.recorded("", p.get("at"), p.get("location"), p.get("size"), p.get("table_counts"))
        for p in payloads
    ]
