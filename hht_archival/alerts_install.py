"""``alerts install``: the automations and ledgers of hht_archival/alerts.py on a Prefect server.

Installing twice creates nothing twice: automations are found by name and
created when missing, updated only when what they should be changed (an update
would restart a proactive window), and left alone otherwise; the ledgers
(hht_archival/incidents.py) are created when missing and otherwise keep their
history. A sponsor whose archival is not enabled gets no expectation, and
loses the one it had; one whose drills are not configured (no scratch server:
hht_archival/drill_setting.py) gets no drill expectation, which would only
page every week for a drill that cannot run, and its drill ledger keeps no
interval. Also what ``doctor`` shows about a sponsor's alerts, and who is not
fully covered: a sponsor that runs here without being named by an install
pages on failure (its ledger is made at its first run) but nothing expects its
archives; a server without PREFECT_UI_URL sends messages without links.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from hht_archival import alert_events, alerts, drill_setting, incidents
from hht_archival.alerts_coverage import NO_UI_URL, ui_url_of, uncovered
from hht_archival.errors import ConfigError

_COMPARED = {
    "description",
    "enabled",
    "tags",
    "trigger",
    "actions",
    "actions_on_trigger",
    "actions_on_resolve",
}


@dataclass
class Installed:
    block: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    ledgers_created: list[str] = field(default_factory=list)
    uncovered: list[tuple[str, str]] = field(default_factory=list)  # ran here, expected by no install
    ui_url: str | None = None  # the server's PREFECT_UI_URL: its messages' links


def install(
    enabled: list[tuple[str, str]],
    disabled: list[tuple[str, str]],
    block_ref: str,
    archive_every: timedelta,
    drill_every: timedelta,
    drilled: list[tuple[str, str]],
) -> Installed:
    """Make the server's automations and ledgers match; each pair is (sponsor, environment).

    ``drilled`` are the enabled pairs whose drills are configured: only they are expected to drill.
    """
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        block_id, block_name = notification_block(client, block_ref)
        wanted = [alerts.relay(block_id), alerts.crashes(block_id)]
        for sponsor, environment in enabled:
            wanted.append(alerts.expectation("archive", sponsor, environment, archive_every, block_id))
            if (sponsor, environment) in drilled:
                wanted.append(alerts.expectation("drill", sponsor, environment, drill_every, block_id))
        unwanted = {
            alerts.expectation_name(family, sponsor, environment)
            for sponsor, environment in disabled
            for family in ("archive", "drill")
        } | {alerts.expectation_name("drill", s, e) for s, e in enabled if (s, e) not in drilled}
        done = Installed(block=block_name)
        existing = {a.name: a for a in client.read_automations()}
        for automation in wanted:
            current = existing.get(automation.name)
            if current is None:
                client.create_automation(automation)
                done.created.append(automation.name)
            elif _comparable(current) == _comparable(automation):
                done.unchanged.append(automation.name)
            else:
                client.update_automation(current.id, automation)
                done.updated.append(automation.name)
        for name in sorted(unwanted & set(existing)):
            client.delete_automation(existing[name].id)
            done.removed.append(name)
        done.uncovered = uncovered(client, set(enabled) | set(disabled))
        done.ui_url = ui_url_of(client)
    for sponsor, environment in enabled:
        drill = drill_every if (sponsor, environment) in drilled else None
        for family, every in (("archive", archive_every), ("drill", drill), ("chain", None)):
            if _ensure_ledger(family, sponsor, environment, every):
                done.ledgers_created.append(incidents.ledger_name(family, sponsor, environment))
    return done


def remove_all() -> list[str]:
    """Delete every automation and ledger ``alerts install`` made (their names start hht-alerts-)."""
    from prefect.client.orchestration import get_client

    removed = []
    with get_client(sync_client=True) as client:
        for automation in client.read_automations():
            if automation.name.startswith(alerts.PREFIX):
                client.delete_automation(automation.id)
                removed.append(automation.name)
        for variable in client.read_variables():
            if variable.name.startswith(alerts.PREFIX):
                client.delete_variable_by_name(variable.name)
                removed.append(variable.name)
    return removed


def state(config) -> tuple[str, str]:
    """What ``doctor`` shows: (``ok`` or ``warn``, one line) about this pair's alerts on the server.

    The drill expectation is required only where this sponsor's drills are configured.
    """
    from prefect.client.orchestration import get_client

    sponsor, environment = config.sponsor, config.environment
    drill_name = alerts.expectation_name("drill", sponsor, environment)
    names = [alerts.RELAY, alerts.expectation_name("archive", sponsor, environment)]
    names += [drill_name] if drill_setting.configured(config) else []
    with get_client(sync_client=True) as client:
        found = {a.name: a for a in client.read_automations() if a.name in [*names, drill_name]}
        missing = [name for name in names if name not in found]
        if alerts.RELAY not in found:
            return "warn", (
                "not installed on this server: a stopped nightly or a failed backup would notify nobody "
                "(hht-archival alerts install --block TYPE/NAME "
                f"--sponsor {sponsor} --environment {environment})"
            )
        block = _block_of(client, found[alerts.RELAY])
        if missing:  # covered by the relay (hht_archival/incidents.py), but expected by nothing
            return "warn", (
                f"failures notify through {block}, but no {' or '.join(_watched(missing))} is expected of "
                f"{sponsor} ({environment}), so a stopped nightly would notify nobody (hht-archival alerts "
                f"install --block {block} --sponsor {sponsor} --environment {environment})"
            )
        links = ui_url_of(client)
    archive, drill = found[alerts.expectation_name("archive", sponsor, environment)], found.get(drill_name)
    opened = incidents.open_in(incidents.read_ledgers(sponsor, environment), sponsor, environment)
    drills = (
        f"a passing drill every {alerts.describe(drill.trigger.within)}"
        if drill
        else f"no drill expected ({drill_setting.NOT_CONFIGURED}: {drill_setting.remedy(config)})"
    )
    return "ok", (
        f"a successful archive expected every {alerts.describe(archive.trigger.within)}, {drills}; "
        f"notifications through {block}; open incidents: "
        + (", ".join(incident.brief for incident in opened) or "none")
        + ("" if links else f"; messages cannot link to runs: {NO_UI_URL}")
    )


def _watched(missing: list[str]) -> list[str]:
    return ["successful archive" if "-archive-" in name else "passing drill" for name in missing]


def notification_block(client, block_ref: str):
    """(id, "type/name") of the notification block ``block_ref`` names, as ``prefect block ls`` shows it."""
    from prefect.exceptions import ObjectNotFound

    slug, _, name = block_ref.partition("/")
    if not slug or not name:
        raise ConfigError(
            f"--block {block_ref!r} is not TYPE/NAME; name a notification block as prefect block ls "
            "shows it, e.g. slack-webhook/ops-alerts."
        )
    try:
        document = client.read_block_document_by_name(name=name, block_type_slug=slug, include_secrets=False)
    except ObjectNotFound:
        raise ConfigError(
            f"There is no block {block_ref} on the Prefect server; create the notification block first "
            "(docs/prefect-server.md: Alerts), then run alerts install again."
        ) from None
    if "notify" not in (document.block_schema.capabilities if document.block_schema else []):
        raise ConfigError(
            f"The block {block_ref} cannot send notifications; name a Slack, Microsoft Teams, custom webhook "
            "or SendGrid e-mail block."
        )
    return document.id, block_ref


def _block_of(client, automation) -> str:
    try:
        document = client.read_block_document(automation.actions[0].block_document_id, include_secrets=False)
        return f"{document.block_type.slug}/{document.name}"
    except Exception:  # deleted since: the automation's own action will fail and Prefect shows it
        return "a notification block that no longer exists"


def _ensure_ledger(family: str, sponsor: str, environment: str, every: timedelta | None) -> bool:
    """Create the ledger when missing (True); otherwise only bring its interval up to date."""
    seconds = every.total_seconds() if every else None
    current = incidents.read_ledger(family, sponsor, environment)
    if current is None:
        value = {"open": {}}
        if seconds:
            value.update(every_seconds=seconds, watched_since=alert_events.iso(alert_events.now_utc()))
        incidents.write_ledger(family, sponsor, environment, value)
        return True
    if seconds and current.get("every_seconds") != seconds:
        now = alert_events.iso(alert_events.now_utc())
        fresh = {} if current.get("every_seconds") else {"watched_since": now}  # expected from now on
        incidents.write_ledger(family, sponsor, environment, {**current, "every_seconds": seconds, **fresh})
    elif not seconds and current.get("every_seconds"):  # no longer expected (drills not configured)
        incidents.write_ledger(family, sponsor, environment, _without(current, "every_seconds"))
    return False


def _without(ledger: dict, name: str) -> dict:
    return {key: value for key, value in ledger.items() if key != name}


def _comparable(automation) -> dict:
    """The fields that matter, with a trigger's event sets sorted: a set's order is not the same in
    two processes (string hashing is salted per process), and must not look like a change."""
    dumped = automation.model_dump(mode="json", include=_COMPARED)
    trigger = dumped.get("trigger") or {}
    for name in ("expect", "after"):
        if isinstance(trigger.get(name), list):
            trigger[name] = sorted(trigger[name])
    return dumped
