"""The Prefect events hht-archival emits: what happened to one sponsor and environment, in one vocabulary.

Why events: Prefect's automations (hht_archival/alerts.py) act on events, so a
run that says what happened as an event needs no code of ours to be watched.
Every event is about one resource per sponsor and environment,
``hht.sponsor.{sponsor}.{environment}``, labelled with ``hht.sponsor`` and
``hht.environment``; an event sent from inside a flow run is also related to
that run (Prefect adds it), which is how a notification links to the run.

Facts (``hht.archive.archived``, ``hht.drill.passed`` ...) are emitted by every
run, with or without alerts installed; incident events (``hht.incident.opened``
and ``hht.incident.resolved``) only where alerts are installed, and they carry
the notification's subject and body, written by hht_archival/alert_messages.py.
Payloads hold names, sizes, keys and links, never a secret.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

ARCHIVED = "hht.archive.archived"
ARCHIVE_FAILED = "hht.archive.failed"
DRILL_PASSED = "hht.drill.passed"
DRILL_FAILED = "hht.drill.failed"
CHAIN_VERIFIED = "hht.chain.verified"
CHAIN_BROKEN = "hht.chain.broken"
INCIDENT_OPENED = "hht.incident.opened"
INCIDENT_RESOLVED = "hht.incident.resolved"


def resource_id(sponsor: str, environment: str) -> str:
    return f"hht.sponsor.{sponsor}.{environment}"


def resource(sponsor: str, environment: str) -> dict[str, str]:
    return {
        "prefect.resource.id": resource_id(sponsor, environment),
        "prefect.resource.name": f"{sponsor} ({environment})",
        "hht.sponsor": sponsor,
        "hht.environment": environment,
    }


def emit(event: str, sponsor: str, environment: str, payload: dict[str, Any]) -> None:
    """Send one event; Prefect queues it and sends it in the background (and before the process exits)."""
    from prefect.events import emit_event

    emit_event(event=event, resource=resource(sponsor, environment), payload=payload)


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def shown(text: str | None) -> str:
    """An ISO time as a person reads it in a message: ``2026-03-01 02:00:04 UTC``."""
    moment = parse_iso(text)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "unknown"


def current_run_url() -> str | None:
    """The Prefect UI page of the flow run this code runs in, or None outside a flow run or without a UI URL.

    Built with Prefect's ``url_for``, the routes its own "View at" log line uses
    (``prefect.runtime.flow_run.ui_url`` points at a page the UI does not have).
    Its base is PREFECT_UI_URL, which Prefect infers from PREFECT_API_URL when unset.
    """
    run_id = current_run_id()
    if run_id is None:
        return None
    try:
        from prefect.utilities.urls import url_for

        return url_for("flow-run", obj_id=run_id)
    except Exception:  # no UI URL configured
        return None


def run_reference() -> str:
    """What a message's ``Run:`` line says: the run's link; its id and how to get a link when the UI's
    address is unknown (never "None"); or that no Prefect run sent it."""
    run_id = current_run_id()
    if run_id is None:
        return "not run by Prefect (see the local log)"
    return current_run_url() or f"flow run {run_id} ({NO_UI_URL})"


NO_UI_URL = (
    "no link: PREFECT_UI_URL is not set; set it to the Prefect UI's address, e.g. "
    "http://prefect.internal:4200, where the server and the workers start (docs/prefect-server.md)"
)


def current_run_id() -> str | None:
    try:
        from prefect.runtime import flow_run

        return str(flow_run.id) if flow_run.id else None
    except Exception:  # no run context
        return None
