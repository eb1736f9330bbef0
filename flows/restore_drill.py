"""restore-drill: the weekly proof that the latest backup restores, as a Prefect flow.

The drill itself is in hht_archival/drill.py; this flow gives it a schedule,
a markdown report in the UI, and a Failed state when the restore does not
hold up to the counts recorded at backup time.
"""

import tempfile
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from blocks.config import load_settings
from blocks.defaults import DEFAULT_ENVIRONMENT, sponsor_or_home
from flows.form import EnvironmentChoice, Text, field
from flows.parameters import resolve_named
from hht_archival.adapters import s3
from hht_archival.drill import render_markdown, run_drill
from hht_archival.errors import ArchivalError
from hht_archival.outcomes import report_drill


@flow(
    name="restore-drill",
    flow_run_name=lambda: "drill-{}-{}".format(
        sponsor_or_home(flow_run.parameters.get("sponsor")), flow_run.parameters.get("environment")
    ),
    log_prints=False,
    persist_result=False,
)
def restore_drill(
    sponsor: Text = field("Sponsor"),  # text, not the manifest's drop-down: weekly names callisto
    environment: EnvironmentChoice = field("Environment", default=DEFAULT_ENVIRONMENT),
    backup: Text = field("Backup", default="latest"),
    sponsor_block: Text = field("Sponsor block"),
    env_prefix: Text = field("Variable prefix"),
    skip_unconfigured: bool = field("Skip when not configured", default=False),
) -> dict[str, Any]:
    """Restore a backup into a throwaway database, compare row counts with the record, report.

    Args:
        sponsor: Sponsor whose backup to drill. Default SPONSOR, else callisto.
        environment: production, staging or dev.
        backup: latest, a date (YYYY-MM-DD) or an archived key.
        sponsor_block: Name of an hht-sponsor-archival block with this sponsor's settings.
        env_prefix: The sponsor's own variable prefix (TITAN_ for titan); any other is refused.
        skip_unconfigured: Without ARCHIVAL_DRILL_DATABASE_URL on the worker, end Completed with a
            "not configured" artifact instead of failing (the scheduled weekly drill does).
    """
    config = resolve_named(
        sponsor=sponsor, environment=environment, sponsor_block=sponsor_block, env_prefix=env_prefix
    )
    drill_url = load_settings().archival_drill_database_url
    if drill_url is None and skip_unconfigured:
        return _not_configured(config)
    client = s3.client_for(config)
    try:
        with tempfile.TemporaryDirectory(prefix="hht-drill-", dir=config.work_dir) as work:
            report = run_drill(
                client, config, drill_url.get_secret_value() if drill_url else None, Path(work), backup
            )
    except ArchivalError as exc:  # no drill server, no throwaway database: a failed drill too
        report_drill(config, False, str(exc), None)
        raise
    passed = report["status"] == "passed"
    report_drill(config, passed, report["error"], report.get("report_location"))
    create_markdown_artifact(
        key=f"restore-drill-{config.sponsor}-{config.environment}",
        markdown=render_markdown(report),
        description=f"Restore drill of {config.sponsor} ({config.environment}): {report['status']}.",
    )
    if not passed:
        raise ArchivalError(f"Restore drill failed for sponsor {config.sponsor}: {report['error']}")
    return report


def _not_configured(config) -> dict[str, Any]:
    """A scheduled drill on a worker that has no scratch server: say what to set, and do not fail nightly."""
    what = (
        f"The restore drill of {config.sponsor} ({config.environment}) is not configured: this worker has no "
        "ARCHIVAL_DRILL_DATABASE_URL (the admin URL of a scratch PostgreSQL server, never production). "
        "Set it in the worker's environment; `hht-archival doctor` shows it."
    )
    create_markdown_artifact(
        key=f"restore-drill-{config.sponsor}-{config.environment}",
        markdown=f"### Restore drill not configured\n\n{what}",
        description=f"Restore drill of {config.sponsor} ({config.environment}): not configured.",
    )
    return {"status": "not-configured", "sponsor": config.sponsor, "environment": config.environment}
