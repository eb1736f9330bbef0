"""archive-sponsor: the seed's deployment step as a Prefect flow, for one sponsor and environment.

The parameters are what the UI's form shows (titles and descriptions); the
work itself is in flows/pipeline.py. Whatever happens, a local JSON log is
written before the flow ends, and a failed run ends the flow run Failed.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from prefect import flow
from prefect.runtime import flow_run
from pydantic import BaseModel, ConfigDict, Field

from blocks.config import resolve_config
from blocks.sponsor import SponsorArchival
from flows.pipeline import ArchivalFailed, record_config_failure, run_pipeline
from hht_archival.record import utc_now_iso

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
    sponsor = params.get("sponsor") or os.environ.get("SPONSOR") or "callisto"
    environment = params.get("environment") or os.environ.get("DEPLOYMENT_ENVIRONMENT") or "production"
    return f"archive-{sponsor}-{environment}"


def _field(title: str, description: str) -> Any:
    return Field(title=title, description=description)


@flow(name="archive-sponsor", flow_run_name=_run_name, log_prints=False, persist_result=False)
def archive_sponsor(
    sponsor: Annotated[
        str | None, _field("Sponsor", "Sponsor (tenant) name; default SPONSOR, else callisto.")
    ] = None,
    environment: Annotated[
        str | None,
        _field("Environment", "production, staging or dev; default DEPLOYMENT_ENVIRONMENT, else production."),
    ] = None,
    enabled: Annotated[
        bool | None,
        _field(
            "Enable archival",
            "Override the feature flag for this run; empty follows the sponsor block, "
            "ENABLE_S3_BACKUP_ARCHIVAL, the Prefect variable, then off.",
        ),
    ] = None,
    sponsor_block: Annotated[
        str | None,
        _field("Sponsor block", "Name of an hht-sponsor-archival block with this sponsor's settings."),
    ] = None,
    deployment: Annotated[
        ApplicationDeployment | None, _field("Application deployment", "The deployment this backup precedes.")
    ] = None,
    region: Annotated[str | None, _field("AWS region", "Default SPONSOR_AWS_REGION, else eu-west-1.")] = None,
    backups_bucket: Annotated[str | None, _field("Backups bucket", "Default SPONSOR_BACKUPS_BUCKET.")] = None,
    audit_logs_bucket: Annotated[
        str | None, _field("Audit logs bucket", "Default SPONSOR_AUDIT_LOGS_BUCKET.")
    ] = None,
    env_prefix: Annotated[
        str | None,
        _field("Environment prefix", "Read this sponsor's settings from prefixed variables (TITAN_...)."),
    ] = None,
    log_dir: Annotated[
        str | None, _field("Local log directory", "Default ARCHIVAL_LOG_DIR, else ./deployment-logs.")
    ] = None,
) -> dict[str, Any]:
    """Archive one sponsor's database and deployment log to S3, or record why not.

    Returns the JSON log as a dict plus ``local_log``, the path of its local copy.
    Raises ArchivalFailed (after writing the local log) when anything failed.
    """
    started_at = utc_now_iso()
    try:
        block = SponsorArchival.load(sponsor_block) if sponsor_block else None
        config = resolve_config(
            sponsor=sponsor,
            environment=environment,
            enabled=enabled,
            region=region,
            backups_bucket=backups_bucket,
            audit_logs_bucket=audit_logs_bucket,
            sponsor_block=block,
            deployment=deployment.model_dump(exclude_none=True) if deployment else None,
            log_dir=log_dir,
            env_prefix=env_prefix,
        )
    except Exception as exc:
        raise record_config_failure(exc, sponsor, environment, log_dir, started_at) from exc
    return run_pipeline(config, started_at)
