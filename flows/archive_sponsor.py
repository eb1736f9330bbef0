"""archive-sponsor: the seed's deployment step as a Prefect flow, for one sponsor and environment.

The parameters are what the UI's form shows (titles and descriptions); the
work itself is in flows/pipeline.py. Whatever happens, a local JSON log is
written before the flow ends, and a failed run ends the flow run Failed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, get_args

from prefect import flow
from prefect.runtime import deployment as prefect_deployment
from prefect.runtime import flow_run
from pydantic import BaseModel, ConfigDict, Field

from blocks.binding import home_sponsor
from blocks.config import local_log_dir, resolve_config
from blocks.manifest import manifest_settings
from blocks.sponsor import load_sponsor_block
from flows.form import (
    FOLLOW_SPONSOR,
    ArchivalChoice,
    Environment,
    EnvironmentChoice,
    Text,
    archival_override,
    environment_or_default,
    field,
    optional,
)
from flows.pipeline import run_pipeline
from flows.run_artifacts import publish_record
from hht_archival.errors import ConfigError
from hht_archival.outcomes import report_failed_run, report_finished_run
from hht_archival.record import utc_now_iso
from hht_archival.unorchestrated import ArchivalFailed, record_config_failure

__all__ = ["ApplicationDeployment", "ArchivalFailed", "archive_sponsor", "record_config_failure"]


class ApplicationDeployment(BaseModel):
    """What the caller says about the application deployment this backup precedes."""

    model_config = ConfigDict(extra="allow")

    version: str | None = Field(
        default=None, title="Version", description="Application version being deployed."
    )
    git_sha: str | None = Field(default=None, title="Git SHA", description="Commit being deployed.")
    git_ref: str | None = Field(default=None, title="Git ref", description="Branch or tag being deployed.")
    actor: str | None = Field(default=None, title="Actor", description="Who started the deployment.")
    run_url: str | None = Field(default=None, title="Run URL", description="Link to the CI run.")


def _run_name() -> str:
    params = flow_run.parameters or {}
    sponsor = params.get("sponsor") or home_sponsor()
    environment = environment_or_default(params.get("environment"))
    if environment not in get_args(Environment):
        environment = "invalid"
    return f"archive-{sponsor}-{environment}"


@flow(name="archive-sponsor", flow_run_name=_run_name, log_prints=False, persist_result=False)
def archive_sponsor(
    sponsor: Text = field("Sponsor"),
    environment: EnvironmentChoice = field("Environment", "production"),
    enabled: ArchivalChoice = field("Archival", FOLLOW_SPONSOR),
    sponsor_block: Text = field("Sponsor block"),
    deployment: ApplicationDeployment | None = field("Application deployment", None),
    env_prefix: Text = field("Variable prefix"),
    manifest: Text = field("Sponsor manifest"),
    log_dir: Text = field("Local log directory"),
) -> dict[str, Any]:
    """Archive one sponsor's database and deployment log to S3, or record why not.

    Returns the JSON log as a dict plus ``local_log``, the path of its local copy.
    Raises ArchivalFailed (after writing the local log) when anything failed.
    Every setting comes from a source bound to the sponsor (blocks/config.py):
    no parameter can point one sponsor at another sponsor's database or buckets.

    Args:
        sponsor: Sponsor (tenant) name: lowercase letters, digits, hyphens. Empty: SPONSOR, else callisto.
        environment: production, staging or dev.
        enabled: "on" or "off" for this run only; "sponsor's setting" follows the sponsor block, the
            sponsor's ENABLE_S3_BACKUP_ARCHIVAL, the Prefect variable, then off.
        sponsor_block: Name of this sponsor's hht-sponsor-archival block (its buckets, database
            secret, credentials and flag); a block of another sponsor is refused. Empty: none.
        deployment: The application deployment this backup precedes (version, git SHA, actor, run URL).
        env_prefix: The sponsor's own variable prefix (TITAN_ for titan); any other is refused. Empty:
            the sponsor's own.
        manifest: Read this sponsor's entry of this sponsor manifest (region, buckets, prefix, block).
            Empty: none.
        log_dir: Local log directory; the log goes to a subdirectory named after the sponsor.
            Empty: ARCHIVAL_LOG_DIR, else ./deployment-logs.
    """
    started_at = utc_now_iso()
    sponsor_name, log_base = optional(sponsor), _log_base(optional(log_dir))
    try:
        config = _resolve(
            sponsor_name,
            environment,
            archival_override(enabled),
            optional(sponsor_block),
            deployment,
            optional(env_prefix),
            optional(manifest),
            log_base,
        )
    except Exception as exc:
        failure = record_config_failure(exc, sponsor_name, environment, log_base, started_at)
        _publish(failure.record)
        report_failed_run(None, failure)
        raise failure from exc
    # What the watchers learn (hht_archival/outcomes.py): an event, incidents, and anomalies,
    # which end an archived run Completed but named Anomalous.
    try:
        record = run_pipeline(config, started_at)
    except ArchivalFailed as failure:
        _publish(failure.record)
        report_failed_run(config, failure)
        raise
    _publish(record)
    return report_finished_run(config, record)


def _log_base(log_dir: str | None) -> str | None:
    """The log directory; in a worker's run a relative one is kept under the home directory.

    A process worker starts each run in a temporary directory that is removed
    afterwards: a relative directory there would take the local logs with it.
    """
    chosen = local_log_dir(log_dir)
    if prefect_deployment.id and not chosen.is_absolute():
        return str(Path.home() / "hht-archival" / chosen)
    return log_dir


def _publish(record: dict | None) -> None:
    """The run's record for the UI and for readers of the API (the nightly, pre-deploy); never fatal."""
    if not record:
        return
    try:
        publish_record(record)
    except Exception as exc:  # the log is written and safe; the artifact is a convenience
        logging.getLogger(__name__).warning("The run's record artifact could not be created (%s).", exc)


def _resolve(sponsor, environment, enabled, sponsor_block, deployment, env_prefix, manifest, log_dir):
    """The sponsor's configuration from its bound sources: the manifest entry, the block, the environment."""
    entry = manifest_settings(manifest, sponsor or home_sponsor()) if manifest else None
    if entry and entry.block and sponsor_block and sponsor_block != entry.block:
        raise ConfigError(
            f"The sponsor manifest {manifest} names block {entry.block} for sponsor "
            f"{sponsor or home_sponsor()}, not {sponsor_block}; leave sponsor_block empty or run without "
            "the manifest."
        )
    block_name = sponsor_block or (entry.block if entry else None)
    return resolve_config(
        sponsor=sponsor,
        environment=environment,
        enabled=enabled,
        sponsor_block=load_sponsor_block(block_name) if block_name else None,
        manifest=entry,
        deployment=deployment.model_dump(exclude_none=True) if deployment else None,
        log_dir=log_dir,
        env_prefix=env_prefix,
    )
