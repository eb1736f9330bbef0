"""Whether a sponsor's restore drills are configured, and what each surface says when they are not.

A drill needs a scratch PostgreSQL server of the sponsor's own (its admin URL,
bound like every sponsor setting: blocks/config.py). Without one nothing can
be proven, so every surface says the same thing with the setting to set: the
weekly lists the sponsor "not configured" and starts no drill for it,
``alerts install`` expects no drill of it, ``doctor`` and ``status`` say
"drills not configured" rather than "ok", and a drill asked for anyway fails
with ``not_configured_sentence``. Kept apart from hht_archival/drill.py (the
drill itself), so that status and doctor read it without the restore's imports.
"""

from __future__ import annotations

from datetime import timedelta

from hht_archival import alert_events

NOT_CONFIGURED = "drills not configured"


def configured(config) -> bool:
    return config.drill_database_url is not None


def remedy(config) -> str:
    """What to set, as a short clause: ``set TITAN_ARCHIVAL_DRILL_DATABASE_URL``."""
    return f"set {config.drill_variable}"


def not_configured(config) -> str:
    """The short form every table shows: ``drills not configured (set TITAN_ARCHIVAL_DRILL_DATABASE_URL)``."""
    return f"{NOT_CONFIGURED} ({remedy(config)})"


def not_configured_sentence(config) -> str:
    """Why a drill of this sponsor cannot run, and what to do: one sentence."""
    return (
        f"The restore drill of sponsor {config.sponsor} ({config.environment}) cannot run: no drill "
        f"scratch server is configured for {config.sponsor}; {remedy(config)} to the admin URL of a scratch "
        "PostgreSQL server (never production), or name its Secret block as drill_database_url_secret in "
        f"{config.sponsor}'s sponsor block, then run the drill again."
    )


def last_drill_cell(config, ledger: dict) -> str | None:
    """status's "last drill" for a sponsor whose drills are not configured; None when they are.

    A drill expectation installed (the ledger has its interval) counts as
    configured: ``alerts install`` saw the setting where it ran, perhaps with
    the workers' environment, which this machine may not have.
    """
    if configured(config) or ledger.get("every_seconds"):
        return None
    failed = (ledger.get("open") or {}).get("failed")
    if failed:  # a drill asked for anyway failed: that stays visible until one passes
        return f"failed since {alert_events.shown(failed['since'])}; {not_configured(config)}"
    return not_configured(config)


def drill_expectation(config, ledger: dict, waited_hours) -> str | None:
    """status's drill part of "expectations": never "ok" for a drill that has never happened.

    ``waited_hours`` formats an age. None when there is nothing to say (no
    interval installed and drills configured: alerts install will add it).
    """
    every = ledger.get("every_seconds")
    if not every:  # no drill is expected: say why, unless alerts install has yet to learn of the server
        return None if configured(config) else NOT_CONFIGURED
    last = (ledger.get("last_good") or {}).get("at")
    since = alert_events.parse_iso(last or ledger.get("watched_since"))
    if since is None:
        return None
    waited = (alert_events.now_utc() - since).total_seconds()
    if waited > every:
        what = "since the last" if last else "and none yet"
        return f"drill MISSED ({waited_hours(waited / 3600)} {what}, every {waited_hours(every / 3600)})"
    if last:
        return "drill ok"
    due = alert_events.iso(since + timedelta(seconds=every))
    return f"drill due by {alert_events.shown(due)} (none yet)"
