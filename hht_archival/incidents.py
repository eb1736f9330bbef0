"""Incidents: one notification when something goes wrong for a sponsor, one when it is fixed, none between.

Why a ledger: a run that fails every night should not page someone every
night, and "fixed" only means something if we remember what was broken. Each
(sponsor, environment) has three ledgers, Prefect variables written by
``hht-archival alerts install`` and then by the runs that observe something:

- ``hht-alerts-archive-{sponsor}-{environment}``: archive runs (failed, anomalous;
  the expected interval, and the last good backup);
- ``hht-alerts-drill-{sponsor}-{environment}``: restore drills (failed; interval);
- ``hht-alerts-chain-{sponsor}-{environment}``: the logs' hash chain (broken).

Three, not one, because different runs write them (an archive and a drill may
end at the same moment) and a variable is written whole. A pair without a
ledger has no alerts installed: nothing is recorded or sent for it.

``observe`` compares what a run saw with what the ledger holds: a problem not
yet open opens an incident (``hht.incident.opened``, with its message), one
already open is counted, an open one the run found fixed is resolved
(``hht.incident.resolved``). A missed interval is noticed by the Prefect server
itself (a proactive automation), which cannot write here; so the first good run
after a gap longer than the interval sends that recovery.

Only a run that *started after* an incident opened can say it is fixed: an
archive already under way when another run failed (a typo in the on-demand
form while the nightly's archive streams) proves nothing about that failure,
and its end used to send "works again" a second after the failure's page. Its
backup still becomes the last good one.

Every sponsor that runs is covered once alerts are installed on the server
(the relay automation exists): a pair without a ledger gets one at its first
reported run, so its failures page too; what it lacks until ``alerts install``
names it is an expectation (nothing notices that it stopped running), which
``doctor`` and ``alerts install`` say.
"""

from __future__ import annotations

from typing import Any

from hht_archival import alert_events, alert_messages, recorded
from hht_archival.alert_messages import Incident

FAMILIES = ("archive", "drill", "chain")
DETAIL_LIMIT = 600  # a Prefect variable holds at most 5,000 characters


def ledger_name(family: str, sponsor: str, environment: str) -> str:
    return f"hht-alerts-{family}-{sponsor}-{environment}"


def read_ledger(family: str, sponsor: str, environment: str) -> dict[str, Any] | None:
    from prefect.variables import Variable

    value = Variable.get(ledger_name(family, sponsor, environment), default=None)
    return value if isinstance(value, dict) else None


def write_ledger(family: str, sponsor: str, environment: str, value: dict[str, Any]) -> None:
    from prefect.variables import Variable

    Variable.set(ledger_name(family, sponsor, environment), value, overwrite=True)


def observe(
    family: str,
    sponsor: str,
    environment: str,
    checked: dict[str, str | None],
    good: dict[str, Any] | None = None,
    seen_at: str | None = None,
    started_at: str | None = None,
) -> list[str]:
    """Record what a run saw and send what changed; return the events sent (``opened:failed``...).

    ``checked`` maps each kind the run could judge to its one-sentence problem,
    or None when it found that kind fine. ``seen_at`` is when the outcome the
    expectation waits for happened (a backup archived, even an anomalous one; a
    drill passed): it closes a gap longer than the expected interval. ``good``
    describes a good outcome (a normal backup, a passing drill) and becomes
    the ledger's ``last_good``, which the next messages name; they are sent
    naming the last good one before this run, recoveries the new one.
    ``started_at`` is when the run began: an incident opened after that stays
    open (None: the run cannot tell, as before).
    """
    ledger = read_ledger(family, sponsor, environment)
    if ledger is None:
        if not recorded.alerts_installed():
            return []
        ledger = {"open": {}}  # a sponsor no install named: its failures page all the same
    now = alert_events.iso(alert_events.now_utc())
    run_url = alert_events.current_run_url()
    open_ = ledger.setdefault("open", {})
    starting: list[Incident] = []
    ending: list[Incident] = []
    for kind, problem in checked.items():
        current = open_.get(kind)
        detail = None if problem is None else (problem or "no reason recorded")[:DETAIL_LIMIT]
        if detail and current:
            current.update(runs=current.get("runs", 1) + 1, detail=detail, last=now)
        elif detail:
            open_[kind] = {"since": now, "runs": 1, "detail": detail, "run_url": run_url}
            starting.append(_incident(family, kind, sponsor, environment, open_[kind]))
        elif current and _began_after(started_at, current.get("since")):
            ending.append(_incident(family, kind, sponsor, environment, open_.pop(kind)))
    before = _last_good_backup(family, sponsor, environment, ledger)  # before this run's good outcome
    seen_at = seen_at or (good or {}).get("at")
    if seen_at is not None:
        gap = _gap_closed(ledger, seen_at)
        if gap is not None:
            ending.append(Incident(family, "stale", sponsor, environment, since=gap, runs=0))
        ledger["last_seen"] = seen_at
    if good is not None:
        ledger["last_good"] = good
    write_ledger(family, sponsor, environment, ledger)

    if not (starting or ending):
        return []
    if before is None:  # the ledger is newer than the last good backup: the server's events may know it
        before = _recorded(recorded.newest_good_archive, sponsor, environment)
    last_good = (ledger.get("last_good") if family == "archive" else None) or before
    running = None
    if starting:  # an archive under way has a newer backup than any recorded: say so
        running = _recorded(recorded.archive_running, sponsor, environment, alert_events.current_run_id())
    run = alert_events.run_reference()
    sent = []
    for incident in starting:
        subject, body = alert_messages.opened(incident, before, run, running)
        _send(alert_events.INCIDENT_OPENED, incident, subject, body)
        sent.append(f"opened:{incident.kind}")
    for incident in ending:
        subject, body = alert_messages.resolved(incident, last_good, run, now)
        _send(alert_events.INCIDENT_RESOLVED, incident, subject, body)
        sent.append(f"resolved:{incident.kind}")
    return sent


def read_ledgers(sponsor: str, environment: str) -> dict[str, dict[str, Any] | None]:
    """The pair's ledgers, by family (None where alerts are not installed)."""
    return {family: read_ledger(family, sponsor, environment) for family in FAMILIES}


def open_in(ledgers: dict[str, dict[str, Any] | None], sponsor: str, environment: str) -> list[Incident]:
    """Every incident the pair's ``ledgers`` hold open, for ``status`` and ``doctor``."""
    return [
        _incident(family, kind, sponsor, environment, entry)
        for family in FAMILIES
        for kind, entry in ((ledgers.get(family) or {}).get("open") or {}).items()
    ]


def _incident(family: str, kind: str, sponsor: str, environment: str, entry: dict[str, Any]) -> Incident:
    return Incident(
        family, kind, sponsor, environment, entry.get("since"), entry.get("runs", 1), entry.get("detail")
    )


def _gap_closed(ledger: dict[str, Any], seen_at: str) -> str | None:
    """When the awaited outcome before this one was, if it is longer ago than the expected interval."""
    every = ledger.get("every_seconds")
    before = (
        ledger.get("last_seen") or (ledger.get("last_good") or {}).get("at") or ledger.get("watched_since")
    )
    start, end = alert_events.parse_iso(before), alert_events.parse_iso(seen_at)
    if not every or start is None or end is None:
        return None
    return before if (end - start).total_seconds() > every else None


def _began_after(started_at: str | None, since: str | None) -> bool:
    """Whether a run that began at ``started_at`` began after the incident opened at ``since``."""
    started, opened = alert_events.parse_iso(started_at), alert_events.parse_iso(since)
    return started is None or opened is None or started > opened


def _recorded(look_up, *args):
    """A look-up of hht_archival/recorded.py, or None if the server could not answer it: a message
    goes out with what is known rather than not at all."""
    try:
        return look_up(*args)
    except Exception:
        return None


def _last_good_backup(family: str, sponsor: str, environment: str, ledger: dict[str, Any]) -> dict | None:
    if family == "archive":
        return ledger.get("last_good")
    archive = read_ledger("archive", sponsor, environment) or {}
    return archive.get("last_good")


def _send(event: str, incident: Incident, subject: str, body: str) -> None:
    alert_events.emit(
        event,
        incident.sponsor,
        incident.environment,
        {
            "family": incident.family,
            "kind": incident.kind,
            "since": incident.since,
            "subject": subject,
            "body": body,
        },
    )
