"""What a notification says: one subject and body per incident opened or resolved.

Written here, in Python, rather than in the automations' Jinja templates,
because the run that notices an incident knows what a template cannot look up:
the one-sentence reason, since when it has lasted, the last good backup. The
automation that delivers it (hht_archival/alerts.py) sends the payload's
subject and body as they are. Each body names the sponsor, the environment,
what is wrong, since when, the last good backup, the run, and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hht_archival.alert_events import shown
from hht_archival.progress import human_size

# (family, kind) -> (what an opened incident is called, what its recovery is called)
TITLES = {
    ("archive", "failed"): ("archiving failed", "archiving works again"),
    ("archive", "anomalous"): ("an anomalous backup was archived", "backups look normal again"),
    ("archive", "degraded"): ("the second copy of a backup failed", "both copies are archived again"),
    ("archive", "stale"): ("no successful archive within the expected time", "archiving resumed"),
    ("drill", "failed"): ("the restore drill failed", "the restore drill passes again"),
    ("drill", "stale"): ("no passing restore drill within the expected time", "a restore drill passed again"),
    ("chain", "broken"): ("the deployment logs' hash chain is broken", "the hash chain is intact again"),
}

ADVICE = {
    ("archive", "failed"): (
        "fix the cause above, then run again (hht-archival run --sponsor {s} --environment {e}, or the "
        "on-demand deployment). Further failures do not notify again; a recovery message follows the first "
        "archive that starts after this message and succeeds."
    ),
    ("archive", "anomalous"): (
        "the backup is archived and nothing was lost. Check that {s}'s {e} database URL points at the right "
        "database and that no table was truncated; if the shrink is expected, the recent backups become the "
        "new baseline after a few runs."
    ),
    ("archive", "degraded"): (
        "the backup is archived at its first destination and intact; only the second copy named above is "
        "missing. Check that destination (hht-archival doctor --sponsor {s}), then the next archive writes "
        "both copies; hht-archival verify --copies --sponsor {s} compares them."
    ),
    ("drill", "failed"): (
        "read the drill report (Prefect UI artifact restore-drill-{s}-{e}); hht-archival verify "
        "--sponsor {s} --environment {e} runs the drill again."
    ),
    ("chain", "broken"): (
        "compare with the bucket's versions (aws s3api list-object-versions --prefix deployments/); "
        "hht-archival verify --logs --sponsor {s} --environment {e} names each broken link."
    ),
}


@dataclass(frozen=True)
class Incident:
    """One incident of one sponsor and environment, as the ledger (hht_archival/incidents.py) keeps it."""

    family: str  # archive, drill or chain
    kind: str  # failed, anomalous, stale, broken
    sponsor: str
    environment: str
    since: str | None  # ISO time it started
    runs: int = 1  # runs that saw it
    detail: str | None = None  # the one-sentence reason

    @property
    def brief(self) -> str:
        """How ``status`` and ``doctor`` list it: ``archive failed since 2026-11-29 02:00 UTC``."""
        return f"{self.family} {self.kind} since {shown(self.since)}"


def opened(
    incident: Incident,
    last_good: dict[str, Any] | None,
    run: str,
    running: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """Subject and body of the message sent when ``incident`` starts; ``run`` is the ``Run:`` line
    (alert_events.run_reference), ``running`` another archive of the pair still under way."""
    what, _ = TITLES[(incident.family, incident.kind)]
    who = f"{incident.sponsor} ({incident.environment})"
    advice = ADVICE.get((incident.family, incident.kind), "")
    advice = advice.format(s=incident.sponsor, e=incident.environment)
    lines = [
        *_header(incident),
        f"What is wrong: {what}: {incident.detail or 'no detail recorded'}",
        f"Since: {shown(incident.since)}",
        f"Last good backup: {describe_backup(last_good, incident)}{_still_running(running)}",
        f"Run: {run}",
        f"What to do: {advice}",
    ]
    return f"❌ hht-archival {who}: {what}", "\n".join(lines)


def resolved(incident: Incident, last_good: dict[str, Any] | None, run: str, now: str) -> tuple[str, str]:
    """Subject and body of the recovery message sent when ``incident`` ends."""
    what, back = TITLES[(incident.family, incident.kind)]
    who = f"{incident.sponsor} ({incident.environment})"
    lasted = f"{incident.runs} run(s)" if incident.kind != "stale" else "no run succeeded in between"
    lines = [
        *_header(incident),
        f"Resolved: {what}, since {shown(incident.since)} ({lasted}); resolved {shown(now)}.",
        f"Last good backup: {describe_backup(last_good, incident)}",
        f"Run: {run}",
    ]
    if incident.detail:
        lines.insert(3, f"Was: {incident.detail}")
    return f"✅ hht-archival {who}: {back}", "\n".join(lines)


def describe_backup(last_good: dict[str, Any] | None, incident: Incident) -> str:
    """The last good backup as the ledger (or the server's events) record it: where, size, when, its run."""
    if not last_good or not last_good.get("location"):
        return (
            "none recorded on the Prefect server (hht-archival list --sponsor "
            f"{incident.sponsor} --environment {incident.environment} shows what the bucket holds)"
        )
    size = last_good.get("size")
    run = f", run {last_good['run_url']}" if last_good.get("run_url") else ""
    return (
        f"{last_good['location']} ({human_size(size) if isinstance(size, int) else 'size unknown'}, "
        f"archived {shown(last_good.get('at'))}{run})"
    )


def _still_running(running: dict[str, Any] | None) -> str:
    if not running:
        return ""
    return f"; an archive started {shown(running.get('started'))} is still running ({running['run_url']})"


def _header(incident: Incident) -> list[str]:
    return [f"Sponsor: {incident.sponsor}", f"Environment: {incident.environment}"]
