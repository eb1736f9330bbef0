"""archive-evidence: each sponsor's evidence report for a period (by default the last full quarter).

Why a flow: the quarter's report should exist before anyone asks for it. The
``quarterly`` deployment (prefect.yaml) makes one per sponsor and environment
of the manifest on the first day of each quarter, with the sponsor's own S3
identity on a worker; each report is stored in the sponsor's audit bucket
under ``evidence/`` (hht_archival/evidence/report.py), and the run shows a
markdown artifact ``evidence-{sponsor}-{environment}``: the summary, the
report's SHA-256 and a link that opens it. A sponsor whose report could not be
made does not stop the others; the run then ends Failed naming each.
"""

from datetime import UTC, date, datetime, timedelta
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from blocks.config import load_settings, resolve_config
from blocks.manifest import resolve_manifest
from flows.artifact_text import object_link
from flows.endings import failed
from flows.form import (
    EVERY_SPONSOR,
    EnvironmentScope,
    SponsorScope,
    Text,
    environment_filter,
    field,
    scope_run_name,
)
from hht_archival.errors import ArchivalError, ConfigError, one_sentence


def _run_name() -> str:
    """``evidence-titan-production``, ``evidence-every-sponsor``, as chosen."""
    return scope_run_name("evidence", flow_run.parameters or {}, empty_means_every=True)


@flow(name="archive-evidence", flow_run_name=_run_name, log_prints=False, persist_result=False)
def archive_evidence(
    sponsor: SponsorScope = field("Sponsor", default=EVERY_SPONSOR),
    environment: EnvironmentScope = field("Environment", default="all"),
    first_day: Text = field("First day"),
    last_day: Text = field("Last day"),
    manifest: Text = field("Sponsor manifest"),
) -> list[dict[str, Any]]:
    """Make and store the evidence report of each sponsor and environment for a period.

    Args:
        sponsor: "every sponsor": each sponsor of the manifest.
        environment: Only this environment; "all": each sponsor's environments.
        first_day: The period's first day, YYYY-MM-DD. Empty: the first day of the last full quarter.
        last_day: The period's last day, YYYY-MM-DD. Empty: the last day of the last full quarter.
        manifest: The sponsor manifest for "every sponsor". Empty: ARCHIVAL_MANIFEST, else sponsors.yaml.
    """
    now = datetime.now(UTC).replace(microsecond=0)
    only = environment_filter(environment)
    try:
        first, last = period(first_day, last_day, now.date())
        if sponsor and sponsor != EVERY_SPONSOR:
            configs = [resolve_config(sponsor=sponsor, environment=only)]
        else:
            configs = resolve_manifest(manifest or str(load_settings().archival_manifest), only)
    except ArchivalError as exc:  # a bad date, manifest or sponsor: its sentence, no traceback
        return failed(exc)
    made, problems = [], []
    for config in configs:
        try:
            made.append(_one(config, first, last, now))
        except ArchivalError as exc:  # one sponsor's failure never stops another's
            problems.append(f"{config.sponsor} ({config.environment}): {one_sentence(exc)}")
    if problems:
        return failed(ArchivalError(f"{len(problems)} evidence report(s) failed: " + " | ".join(problems)))
    return made


def period(first_day: str, last_day: str, today: date) -> tuple[date, date]:
    """The chosen days, or the last full quarter before ``today``."""
    start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)  # this quarter's first day
    last = start - timedelta(days=1)
    first = date(last.year, 3 * ((last.month - 1) // 3) + 1, 1)
    try:
        first = date.fromisoformat(first_day.strip()) if first_day.strip() else first
        last = date.fromisoformat(last_day.strip()) if last_day.strip() else last
    except ValueError as exc:
        raise ConfigError(f"The evidence period is not a date ({exc}); write YYYY-MM-DD.") from None
    if last < first:
        raise ConfigError(f"The evidence period ends ({last}) before it starts ({first}); swap the days.")
    return first, last


def _one(config, first: date, last: date, now: datetime) -> dict[str, Any]:
    from hht_archival.adapters import s3
    from hht_archival.evidence.report import build, store

    client = s3.client_for(config)
    facts, html = build(client, config, first, last, now)
    facts = store(client, config, facts, html, now)
    create_markdown_artifact(
        key=f"evidence-{config.sponsor}-{config.environment}",
        markdown=summary_markdown(facts, config.region, client.meta.endpoint_url),
        description=f"Evidence report of {config.sponsor} ({config.environment}), "
        f"{facts['period']['from']} to {facts['period']['to']}.",
    )
    return {"sponsor": config.sponsor, "environment": config.environment, **facts["report"]}


def summary_markdown(facts: dict[str, Any], region: str, endpoint: str | None) -> str:
    """The report's summary as a person reads it in the UI, with a link that opens the report."""
    s, report = facts["summary"], facts["report"]
    chain = "intact" if s["chain"] == "intact" else "**BROKEN**"
    lines = [
        f"# Evidence: {facts['sponsor']} ({facts['environment']}), "
        f"{facts['period']['from']} to {facts['period']['to']}",
        "",
        f"- Backups: {s['backups']}; failed runs: {s['failed_runs']}; anomalous backups: "
        f"{s['anomalous_backups']}",
        f"- Audit log hash chain: {chain}; {s['cold_logs']} log(s) in cold storage",
        f"- Restore drills: {s['drills']} ({s['drills_passed']} passed)",
        f"- Incidents: {s['incidents']}; days without a successful archive: {s['gap_days']}",
        f"- Report: `{report['location']}` ({object_link(report['location'], region, endpoint)})",
        f"- Its SHA-256: `{report['sha256']}`",
        f"- Kept until {report['retain_until']}"
        + (f"; Object Lock until {report['object_lock_until']}" if report["object_lock_until"] else ""),
        f"- Facts as JSON: `{report['facts_location']}`",
        f"- The Prefect server: {facts['sources']['prefect_server']}",
    ]
    return "\n".join(lines)
