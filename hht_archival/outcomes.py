"""What a run tells the watchers when it ends: its fact as a Prefect event, its anomalies, its incidents.

Called by the flows (archive, drill, status) after their own work is done and
recorded, so nothing here can lose or fail a backup: every step is best effort,
and a problem becomes one warning line, never an exception. With no Prefect
server of the operator's (the API this command started for itself) there are
no automations to tell and no history to compare with: nothing is done.
"""

from __future__ import annotations

import logging
from typing import Any

from hht_archival import alert_events, incidents
from hht_archival.anomaly import Anomaly, final_state, find_anomalies, summary
from hht_archival.errors import prefect_api_lost
from hht_archival.naming import DEPLOYMENT_LOGS_PREFIX
from hht_archival.progress import announce, human_size

log = logging.getLogger(__name__)
DEGRADED_STATE = "Degraded"  # archived at the first copy, not at the second (tasks/second_copy.py)


def report_finished_run(config, result: dict[str, Any]) -> Any:
    """The archive flow's return value: an archived run is checked and reported (an anomalous one ends
    Completed, named Anomalous; a degraded one Degraded); a skipped run (flag off) says nothing."""
    if result.get("status") != "archived":
        return result
    anomalies = report_archived(config, result)
    if result.get("degraded"):  # one copy of two archived: Completed, named Degraded, with the sentence
        from prefect.states import Completed

        message = "; ".join([result["degraded"], *(a.sentence for a in anomalies)])
        return Completed(name=DEGRADED_STATE, message=message, data=result)
    return final_state(result, anomalies)


def report_failed_run(config, failure: Exception) -> None:
    """An archive run failed; ``config`` is None when it failed before its configuration was built."""
    if prefect_api_lost(failure, "", "") is not None:
        return  # no API to tell: the run's local log and the expectation's automation will
    record = getattr(failure, "record", None) or {}
    sponsor = config.sponsor if config else record.get("sponsor")
    environment = config.environment if config else record.get("environment")
    if not _valid(sponsor, environment):
        return  # refused before it had a valid sponsor and environment: nobody's incident
    _tell(
        sponsor,
        environment,
        alert_events.ARCHIVE_FAILED,
        {"reason": str(failure)},
        "archive",
        {"failed": str(failure)},
    )


def report_archived(config, record: dict[str, Any]) -> list[Anomaly]:
    """After a backup and its log are archived: check it against the recent ones, emit, update incidents."""
    anomalies: list[Anomaly] = []
    try:
        anomalies = _anomalies(config, record)
    except Exception as exc:  # the backup is safe; a check that cannot read its history is only a warning
        log.warning(
            "The anomaly check for sponsor %s (%s) could not read the recent archives from Prefect (%s); "
            "the backup is archived.",
            config.sponsor,
            config.environment,
            type(exc).__name__,
        )
    if anomalies:
        announce("⚠️  %s", summary(config.sponsor, config.environment, anomalies))
    good = {
        "at": record.get("timestamp"),
        "location": record.get("backup_location"),
        "size": record.get("backup_size"),
        "run_url": alert_events.current_run_url(),
    }
    payload = {
        **good,
        "size_human": human_size(good["size"] or 0),
        "at_shown": alert_events.shown(good["at"]),
        "table_counts": record.get("table_counts"),  # the next run's baseline (hht_archival/baseline.py)
        "anomalies": [a.as_dict() for a in anomalies],
    }
    problem = "; ".join(a.sentence for a in anomalies) or None
    # A degraded run (the second copy failed) is its own incident, naming the destination; the next
    # run that lands both copies resolves it.
    checked = {"failed": None, "anomalous": problem, "degraded": record.get("degraded")}
    # An anomalous backup meets the expectation (it is archived) but is not a good one to name later.
    _tell(
        config.sponsor,
        config.environment,
        alert_events.ARCHIVED,
        payload,
        "archive",
        checked,
        None if anomalies else good,
        good["at"],
        record.get("started_at"),  # an incident opened while this run was under way is not its to close
    )
    return anomalies


def report_drill(config, passed: bool, reason: str | None, report_location: str | None) -> None:
    """A restore drill ended: passed, or failed with ``reason``."""
    at = alert_events.iso(alert_events.now_utc())
    payload = {
        "at": at,
        "at_shown": alert_events.shown(at),
        "report_location": report_location,
        "reason": reason,
        "run_url": alert_events.current_run_url(),
    }
    good = {"at": at, "report": report_location, "run_url": payload["run_url"]} if passed else None
    event = alert_events.DRILL_PASSED if passed else alert_events.DRILL_FAILED
    checked = {"failed": None if passed else reason}
    _tell(config.sponsor, config.environment, event, payload, "drill", checked, good)


def report_chain(config, problems: list[str], logs: int) -> None:
    """The deployment logs' hash chain was walked: intact, or broken at each of ``problems``."""
    broken = (
        f"{len(problems)} broken link(s) in s3://{config.audit_logs_bucket}/{DEPLOYMENT_LOGS_PREFIX}: "
        f"{problems[0]}"
        if problems
        else None
    )
    event = alert_events.CHAIN_BROKEN if problems else alert_events.CHAIN_VERIFIED
    payload = {"logs": logs, "problems": problems[:5]}
    good = None if problems else {"at": alert_events.iso(alert_events.now_utc()), "logs": logs}
    _tell(config.sponsor, config.environment, event, payload, "chain", {"broken": broken}, good)


def _anomalies(config, record: dict[str, Any]) -> list[Anomaly]:
    from blocks.config import load_settings
    from hht_archival.baseline import recent_archives
    from hht_archival.engine import embedded_api_in_use
    from hht_archival.naming import backup_extension

    settings = load_settings()
    if embedded_api_in_use() or (
        settings.archival_anomaly_size_fraction == 0 and settings.archival_anomaly_row_drop >= 1
    ):
        return []  # no history to compare with, or nothing to compare
    previous = recent_archives(config.sponsor, config.environment, settings.archival_anomaly_history)
    return find_anomalies(
        record.get("backup_size") or 0,
        backup_extension(record.get("backup_location")),
        record.get("table_counts"),
        previous,
        settings.archival_anomaly_size_fraction,
        settings.archival_anomaly_row_drop,
    )


def _tell(
    sponsor: str,
    environment: str,
    event: str,
    payload: dict,
    family: str,
    checked: dict,
    good: dict | None = None,
    seen_at: str | None = None,
    started_at: str | None = None,
) -> None:
    """Emit the fact and update the incidents, unless this process's Prefect API is one it started itself."""
    from hht_archival.engine import embedded_api_in_use

    if embedded_api_in_use():
        return
    try:
        alert_events.emit(event, sponsor, environment, payload)
        incidents.observe(family, sponsor, environment, checked, good, seen_at, started_at)
    except Exception as exc:
        log.warning(
            "The alert for sponsor %s (%s) could not be recorded (%s: %s); the run's own outcome stands.",
            sponsor,
            environment,
            type(exc).__name__,
            exc,
        )


def _valid(sponsor: Any, environment: Any) -> bool:
    from hht_archival.naming import ENVIRONMENT_KEYS, validate_sponsor

    try:
        validate_sponsor(str(sponsor))
    except Exception:
        return False
    return environment in ENVIRONMENT_KEYS
