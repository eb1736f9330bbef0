"""The Prefect automations that watch every sponsor: which exist, what triggers them, what they send.

Which watcher notices what, and why there:

- **A missed expectation** (no successful archive for N hours, default 26; no
  passing drill for M days, default 8, where the sponsor's drills are
  configured) is a *proactive* automation per (sponsor, environment),
  evaluated by the Prefect server's triggers service.
  Only the server can notice that something did not happen: a paused schedule
  or a worker pool with no live worker runs no flow at all, so a scheduled
  check flow would be as silent as the nightly it should watch. Each trigger
  starts its window at the sponsor's last ``hht.archive.archived`` (or
  ``hht.drill.passed``) event (``after``/``expect``), so "at least every N
  hours" means exactly that, and the message names that last good archive.
  The server evaluates proactive triggers every 5 s
  (PREFECT_SERVER_EVENTS_PROACTIVE_GRANULARITY); ``within`` is at least 10 s.
  While the expectation stays missed, Prefect repeats the message every second
  window (52 h by default): the reminder.
- **A failed archive or drill, an anomalous backup, a broken hash chain** are
  noticed by the run that sees them, because only it knows the reason, since
  when and the last good backup, and because a trigger counts events but cannot
  compare their payloads (a median of sizes, a table's rows against the last
  backup's). The run records the incident (hht_archival/incidents.py)
  and emits ``hht.incident.opened`` / ``hht.incident.resolved`` with the message;
  one automation, the relay, sends it. One message per incident, one recovery.
- **A crashed run** (its process died: our code never got to say anything) is
  a reactive automation on Prefect's own ``prefect.flow-run.Crashed``.
- **A lost run** (its worker's machine died with it, so nothing is left to end
  it and Prefect shows it Running) is found by the nightly that started it,
  from its heartbeats (flows/lost_runs.py), and marked Crashed: then this notice
  goes out. Prefect's documented "zombie" automation (a proactive trigger on
  missing ``prefect.flow-run.heartbeat``) was tried here and left out: on this
  Prefect it did not act on heartbeats for about half a minute after it was
  created, nor at all after a server restart.

Every message goes out through one Prefect notification block the operator
chose (Slack, Teams, a custom webhook, SendGrid e-mail): secrets such as the
webhook URL stay in that block, and the server, not the workers, sends them.
"""

from __future__ import annotations

import re
from datetime import timedelta
from uuid import UUID

from prefect.automations import AutomationCore, EventTrigger, Posture
from prefect.events.actions import SendNotification

from hht_archival import alert_events

RELAY = "hht-alerts-incidents"
CRASHES = "hht-alerts-crashed-runs"
PREFIX = "hht-alerts-"  # every automation and ledger variable alerts install creates starts so
TAGS = ["hht-archival", "alerts"]
WATCHED_FLOWS = [
    "archive-sponsor",
    "archive-all-sponsors",
    "restore-drill",
    "drill-all-sponsors",
    "archive-status",
]
DEFAULT_ARCHIVE_EVERY = timedelta(hours=26)
DEFAULT_DRILL_EVERY = timedelta(days=8)
MINIMUM_EVERY = timedelta(seconds=10)  # Prefect refuses proactive windows shorter than this
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}

# What each family's expectation watches for, and what its event's payload offers the message.
_WATCHED = {
    "archive": (alert_events.ARCHIVED, "successful archive", "the last successful archive"),
    "drill": (alert_events.DRILL_PASSED, "passing restore drill", "the last passing drill"),
}

_EXPECTATION_BODY = """Sponsor: @S@
Environment: @E@
What is wrong: no @WHAT@ for more than @EVERY@ (expected at least every @EVERY@); a paused schedule, \
a work pool without a live worker or runs that never start look like this.
{% if event and event.event == "@EVENT@" %}Since: {{ event.payload.at_shown }} (@LAST@)
{% else %}Since: more than @EVERY@ before this message (none seen since the expectation was installed \
or since the last reminder)
{% endif %}Last good backup: {% if event and event.payload.location %}{{ event.payload.location }} \
({{ event.payload.size_human }}, archived {{ event.payload.at_shown }}){% else %}not known here: \
hht-archival status --sponsor @S@ --environment @E@ shows the newest{% endif %}
Run: {% if event and event.payload.run_url %}{{ event.payload.run_url }} (@LAST@){% else %}\
none in that time{% endif %}
What to do: check the schedule of the deployment that runs it (paused?), the hht-archival work pool \
(are its workers online?) and the newest runs for @S@ (@E@). This repeats every @REMIND@ until one \
succeeds; a recovery message follows it."""

_CRASH_BODY = """Flow run: {{ flow_run.name }} (its name carries the sponsor and environment)
What is wrong: the run crashed: {{ flow_run.state.message }}
Since: {{ flow_run.state.timestamp }}
Last good backup: not known to a crashed run; hht-archival status shows each sponsor's newest
Run: {% if flow_run|ui_url %}{{ flow_run|ui_url }}{% else %}flow run {{ flow_run.id }} (no link: the \
Prefect server has no PREFECT_UI_URL; set it to the UI's address where the server starts, \
docs/prefect-server.md){% endif %}
What to do: a crashed process recorded nothing; a sponsor's run of the nightly is started again once by \
the nightly itself (its archive-summary says so); otherwise check the worker that ran it (memory, disk, \
a kill, a lost machine), then run it again. The sponsor's archive expectation will also notify if no \
archive follows."""


def expectation_name(family: str, sponsor: str, environment: str) -> str:
    return f"{PREFIX}{family}-expected-{sponsor}-{environment}"


def expectation(
    family: str, sponsor: str, environment: str, every: timedelta, block_id: UUID
) -> AutomationCore:
    """The proactive automation expecting a family's good event for one sponsor and environment."""
    event, what, last = _WATCHED[family]
    replacements = {
        "@S@": sponsor,
        "@E@": environment,
        "@WHAT@": what,
        "@EVERY@": describe(every),
        "@REMIND@": describe(2 * every),
        "@EVENT@": event,
        "@LAST@": last,
    }
    body = _EXPECTATION_BODY
    for token, value in replacements.items():
        body = body.replace(token, value)
    return AutomationCore(
        name=expectation_name(family, sponsor, environment),
        description=f"A {what} of {sponsor} ({environment}) at least every {describe(every)}.",
        tags=TAGS,
        trigger=EventTrigger(
            match={"prefect.resource.id": alert_events.resource_id(sponsor, environment)},
            after={event},
            expect={event},
            posture=Posture.Proactive,
            threshold=1,
            within=every,
        ),
        actions=[
            SendNotification(
                block_document_id=block_id,
                subject=f"❌ hht-archival {sponsor} ({environment}): no {what} for {describe(every)}",
                body=body,
            )
        ],
    )


def relay(block_id: UUID) -> AutomationCore:
    """Sends the message an ``hht.incident.*`` event carries, as written by the run that saw it."""
    return AutomationCore(
        name=RELAY,
        description="Sends each incident and each recovery that hht-archival runs report.",
        tags=TAGS,
        trigger=EventTrigger(
            match={"prefect.resource.id": "hht.sponsor.*"},
            expect={alert_events.INCIDENT_OPENED, alert_events.INCIDENT_RESOLVED},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[
            SendNotification(
                block_document_id=block_id,
                subject="{{ event.payload.subject }}",
                body="{{ event.payload.body }}",
            )
        ],
    )


def crashes(block_id: UUID) -> AutomationCore:
    """Notifies a crashed run of any hht-archival flow: its process died before it could report."""
    return AutomationCore(
        name=CRASHES,
        description="Notifies when an hht-archival flow run crashes (its process died).",
        tags=TAGS,
        trigger=EventTrigger(
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": WATCHED_FLOWS},
            expect={"prefect.flow-run.Crashed"},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[
            SendNotification(
                block_document_id=block_id,
                subject="❌ hht-archival {{ flow_run.name }} crashed",
                body=_CRASH_BODY,
            )
        ],
    )


def parse_every(text: str, option: str) -> timedelta:
    """``26h``, ``8d``, ``90m``, ``15s``: a window, at least Prefect's 10 s; ValueError with one sentence."""
    match = _DURATION.match(text or "")
    if not match:
        raise ValueError(f"{option} {text!r} is not a duration; write it like 26h, 8d, 90m or 30s.")
    every = timedelta(**{_UNITS[match[2]]: float(match[1])})
    if every < MINIMUM_EVERY:
        raise ValueError(f"{option} {text!r} is shorter than Prefect's minimum of 10 s for an expectation.")
    return every


def describe(every: timedelta) -> str:
    seconds = every.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"
