"""restore-drill: the proof that a sponsor's backup restores, as a Prefect flow for one sponsor.

The drill itself is in hht_archival/drill.py; this flow gives it a form in the
UI (flows/drill_parameters.py), a markdown report for people and a record the
weekly reads back (flows/drill_record.py), and a Failed state when the restore
does not hold up to the counts recorded at backup time.

A drill that cannot run, because the sponsor has no drill scratch server,
**fails**, with one sentence naming the setting to set. It does not end
Completed with a "not configured" note: a green run that proved nothing is
what an auditor would be misled by, and what an operator skimming the run list
would miss. Nor a custom non-green state: Prefect has none between Failed and
Cancelled, and Cancelled says a person chose it. So the watchers hear of it as
a failed drill, and ``verify`` exits 1. The weekly (flows/drill_all_sponsors.py)
never starts such a drill: it lists the sponsor "not configured" on purpose.
"""

import tempfile
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from blocks.defaults import environment_or_default, sponsor_or_home
from flows.drill_parameters import DrillParameters, drill_form
from flows.drill_record import publish_drill_record
from flows.endings import failed
from flows.form import EnvironmentChoice, Text
from flows.parameters import resolve_named
from hht_archival.adapters import s3
from hht_archival.drill import render_markdown, run_drill
from hht_archival.drill_setting import configured, not_configured_sentence
from hht_archival.errors import ArchivalError, ConfigError, one_sentence
from hht_archival.outcomes import report_drill


def _run_name() -> str:
    params = flow_run.parameters or {}
    environment = environment_or_default(params.get("environment"))
    return f"drill-{sponsor_or_home(params.get('sponsor'))}-{environment}"


@flow(name="restore-drill", flow_run_name=_run_name, log_prints=False, persist_result=False)
def restore_drill(
    sponsor: Text = drill_form("sponsor"),
    environment: EnvironmentChoice = drill_form("environment"),
    backup: Text = drill_form("backup"),
    sponsor_block: Text = drill_form("sponsor_block"),
    env_prefix: Text = drill_form("env_prefix"),
    manifest: Text = drill_form("manifest"),
) -> dict[str, Any]:
    """Restore a backup into a throwaway database on the sponsor's scratch server, compare row counts
    with the record, report; fail when they differ or when the drill cannot run.

    The parameters, their titles and descriptions are DrillParameters's
    (flows/drill_parameters.py); they are named here too because Prefect draws
    the UI form from this signature.
    """
    chosen = DrillParameters(**locals()).chosen()  # first: locals() is exactly the parameters here
    try:
        return _drill(chosen)
    except ArchivalError as exc:  # Failed with its one sentence: no traceback, no pickled "result"
        return failed(exc)


def _drill(chosen: dict[str, Any]) -> dict[str, Any]:
    backup = chosen.pop("backup")
    config = resolve_named(**chosen)
    if not configured(config):
        sentence = not_configured_sentence(config)
        _could_not_run(config, sentence, "not configured")
        raise ConfigError(sentence)
    client = s3.client_for(config)
    try:
        with tempfile.TemporaryDirectory(prefix="hht-drill-", dir=config.work_dir) as work:
            report = run_drill(client, config, Path(work), backup)
    except ArchivalError as exc:  # no throwaway database, a report that did not land: a failed drill too
        _could_not_run(config, one_sentence(exc), "could not run")
        raise
    passed = report["status"] == "passed"
    report_drill(config, passed, report["error"], report.get("report_location"))
    publish_drill_record(report)
    create_markdown_artifact(
        key=f"restore-drill-{config.sponsor}-{config.environment}",
        markdown=render_markdown(report),
        description=f"Restore drill of {config.sponsor} ({config.environment}): {report['status']}.",
    )
    if not passed:
        raise ArchivalError(f"Restore drill failed for sponsor {config.sponsor}: {report['error']}")
    return report


def _could_not_run(config, sentence: str, title: str) -> None:
    """The watchers, the weekly and a person in the UI each learn why this drill proved nothing."""
    report_drill(config, False, sentence, None)
    publish_drill_record(
        {"sponsor": config.sponsor, "environment": config.environment, "status": "failed", "error": sentence}
    )
    create_markdown_artifact(
        key=f"restore-drill-{config.sponsor}-{config.environment}",
        markdown=f"# Restore drill ❌ {title.upper()}: {config.sponsor} ({config.environment})\n\n{sentence}",
        description=f"Restore drill of {config.sponsor} ({config.environment}): failed, {title}.",
    )
