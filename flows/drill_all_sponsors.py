"""drill-all-sponsors: the weekly restore drill of every sponsor of the manifest, each on any worker.

Like the nightly (flows/archive_all_sponsors.py), each (sponsor, environment)
becomes a run of a deployment (``restore-drill/sponsor-drill``) that any worker
of the pool takes (flows/fan_out.py), each with its own scratch server, and the
weekly fails naming every sponsor whose drill failed.

A sponsor with no drill scratch server, or whose archival is off, is not
drilled: no run is started for it, and the summary lists it ("not
configured", with the setting to set; "archival off"), neither failed nor
passed. Those are choices an operator made, and its expectation is not
installed either (hht_archival/alerts_install.py). But a weekly that drilled
nobody at all proved nothing, so it fails saying why: never green with nothing.
"""

from datetime import UTC, datetime
from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.states import Cancelled

from blocks.config import load_settings
from blocks.manifest import SponsorRun, expand, load_manifest
from flows.archive_all_sponsors import SponsorsFailed, SponsorsStopped
from flows.drill_parameters import drill_run_parameters
from flows.drill_record import read_drill_record
from flows.endings import failed
from flows.fan_out import Fleet, archive_on_workers
from flows.form import EnvironmentList, SponsorList, Text, field
from flows.parameters import resolve_named
from hht_archival.drill_setting import configured, not_configured
from hht_archival.errors import ArchivalError, one_sentence
from hht_archival.progress import announce
from hht_archival.stopping import requested, signals_stop_runs
from hht_archival.unorchestrated import ArchivalStopped

DRILL_DEPLOYMENT = "restore-drill/sponsor-drill"
DRILLS = Fleet(DRILL_DEPLOYMENT, drill_run_parameters, read_drill_record)
SKIPPED = ("not configured", "archival off")


def _run_name() -> str:
    return f"drills-{datetime.now(UTC):%Y%m%d-%H%M%S}"


@flow(name="drill-all-sponsors", flow_run_name=_run_name, log_prints=False, persist_result=False)
def drill_all_sponsors(
    manifest: Text = field("Sponsor manifest"),
    sponsors: SponsorList = field("Only these sponsors", default=[]),
    environments: EnvironmentList = field("Only these environments", default=[]),
    wait_hours: float = field("Hours to wait for the pool's drills", default=12.0),
) -> list[dict[str, Any]]:
    """Drill every sponsor of the manifest that has a scratch server, each as a run on any worker.

    Args:
        manifest: Path of the sponsor manifest in the deployed commit. Empty: ARCHIVAL_MANIFEST, else
            sponsors.yaml.
        sponsors: Only these sponsors. Empty: every sponsor in the manifest.
        environments: Only these environments. Empty: each sponsor's own list.
        wait_hours: How long to wait for the drills before reporting the ones without an outcome as lost.
    """
    try:
        path = manifest or str(load_settings().archival_manifest)
        runs = expand(load_manifest(path), sponsors or None, environments or None, path=path)
    except ArchivalError as exc:  # a bad manifest or filter: its one sentence, no traceback
        return failed(exc)
    rows = {(run.sponsor, run.environment): _planned(run) for run in runs}
    ready = [run for run in runs if rows[(run.sponsor, run.environment)] is None]
    with signals_stop_runs():  # a cancel from the UI cancels the sponsors' drills too (fan_out.py)
        announce("Drilling %d of %d sponsor run(s) on the pool's workers.", len(ready), len(runs))
        outcomes = archive_on_workers(ready, {}, wait_hours * 3600, DRILLS) if ready else []
    for run, outcome in outcomes:
        rows[(run.sponsor, run.environment)] = _drilled(run, outcome)
    summary = [rows[(run.sponsor, run.environment)] for run in runs]
    for row in summary:
        announce("%s (%s): %s%s", row["sponsor"], row["environment"], row["status"], _dash(row["reason"]))
    create_table_artifact(
        key="drill-summary",
        table=summary,
        description="Each sponsor's restore drill: passed, failed (why), or not drilled (why, what to set).",
    )
    return _ending(summary)


def _planned(run: SponsorRun) -> dict[str, Any] | None:
    """None for a sponsor to drill; else its row: not configured, archival off, or a setting refused."""
    from tasks.check_flag import decide

    try:
        config = resolve_named(sponsor=run.sponsor, environment=run.environment, manifest=run.settings.path)
        enabled = decide(config).enabled
    except ArchivalError as exc:
        return _row(run, "failed", one_sentence(exc))
    if not enabled:
        return _row(run, "archival off", "archival is not enabled for it, so it has no new backup to drill")
    if not configured(config):
        return _row(run, "not configured", not_configured(config))
    return None


def _drilled(run: SponsorRun, outcome: dict | Exception) -> dict[str, Any]:
    if isinstance(outcome, dict):
        return _row(run, outcome.get("status", "failed"), outcome.get("error"), outcome)
    record = getattr(outcome, "record", None) or {}
    status = "stopped" if isinstance(outcome, ArchivalStopped) else "failed"
    return _row(run, status, one_sentence(outcome), record)


def _row(run: SponsorRun, status: str, reason: str | None, record: dict | None = None) -> dict[str, Any]:
    record = record or {}
    return {
        "sponsor": run.sponsor,
        "environment": run.environment,
        "status": status,
        "backup": record.get("backup_location"),
        "report": record.get("report_location"),
        "reason": reason,
    }


def _ending(summary: list[dict[str, Any]]) -> Any:
    """Cancelled when stopped; Failed naming each failed sponsor, or when no drill ran at all."""
    stop = requested()
    if stop is not None:
        stopped = [row for row in summary if row["status"] == "stopped"]
        message = (
            f"{len(stopped)} of {len(summary)} sponsor drills were {stop}; the others ended on their own."
        )
        return Cancelled(message=message, data=SponsorsStopped(message, summary, stop.signum))
    failed = [row for row in summary if row["status"] not in ("passed", *SKIPPED)]
    if failed:
        reasons = "; ".join(f"{row['sponsor']} ({row['environment']}): {row['reason']}" for row in failed)
        raise SponsorsFailed(f"{len(failed)} of {len(summary)} sponsor drills failed: {reasons}", summary)
    if not any(row["status"] == "passed" for row in summary):
        skipped = "; ".join(f"{row['sponsor']} ({row['environment']}): {row['reason']}" for row in summary)
        raise SponsorsFailed(
            f"No restore drill ran, so no backup was proven to restore: {skipped}; configure a scratch "
            "server for each sponsor to drill (hht-archival doctor shows the setting), or pause "
            "drill-all-sponsors/weekly if you do not drill.",
            summary,
        )
    return summary


def _dash(reason: str | None) -> str:
    return f" - {reason}" if reason else ""
