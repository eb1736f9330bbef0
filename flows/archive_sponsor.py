"""archive-sponsor: the seed's deployment step as a Prefect flow, for one sponsor and environment.

The parameters are what the UI's form shows (titles and descriptions); the
work itself is in flows/pipeline.py. Whatever happens, a local JSON log is
written before the flow ends, and a failed run ends the flow run Failed.
"""

from __future__ import annotations

import os
from typing import Any

from prefect import flow
from prefect.runtime import flow_run
from pydantic import BaseModel, ConfigDict, Field

from blocks.config import resolve_config
from blocks.sponsor import load_sponsor_block
from flows.pipeline import run_pipeline
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
    sponsor = params.get("sponsor") or os.environ.get("SPONSOR") or "callisto"
    environment = params.get("environment") or os.environ.get("DEPLOYMENT_ENVIRONMENT") or "production"
    return f"archive-{sponsor}-{environment}"


@flow(name="archive-sponsor", flow_run_name=_run_name, log_prints=False, persist_result=False)
def archive_sponsor(
    sponsor: str | None = None,
    environment: str | None = None,
    enabled: bool | None = None,
    sponsor_block: str | None = None,
    deployment: ApplicationDeployment | None = None,
    region: str | None = None,
    backups_bucket: str | None = None,
    audit_logs_bucket: str | None = None,
    env_prefix: str | None = None,
    log_dir: str | None = None,
) -> dict[str, Any]:
    """Archive one sponsor's database and deployment log to S3, or record why not.

    Returns the JSON log as a dict plus ``local_log``, the path of its local copy.
    Raises ArchivalFailed (after writing the local log) when anything failed.

    Args:
        sponsor: Sponsor (tenant) name: lowercase letters, digits, hyphens. Default SPONSOR, else callisto.
        environment: production, staging or dev. Default DEPLOYMENT_ENVIRONMENT, else production.
        enabled: Override the feature flag for this run. Empty follows the sponsor block,
            ENABLE_S3_BACKUP_ARCHIVAL, the Prefect variable, then off.
        sponsor_block: Name of an hht-sponsor-archival block holding this sponsor's buckets,
            database secret and flag.
        deployment: The application deployment this backup precedes (version, git SHA, actor, run URL).
        region: AWS region of the buckets. Default SPONSOR_AWS_REGION, else eu-west-1.
        backups_bucket: Bucket for the backup. Default SPONSOR_BACKUPS_BUCKET, else the seed's name.
        audit_logs_bucket: Bucket for the deployment log. Default SPONSOR_AUDIT_LOGS_BUCKET, else
            the seed's name.
        env_prefix: Read this sponsor's settings from prefixed variables (TITAN_DATABASE_URL, ...).
        log_dir: Local directory of the JSON log. Default ARCHIVAL_LOG_DIR, else ./deployment-logs.
    """
    started_at = utc_now_iso()
    try:
        block = load_sponsor_block(sponsor_block) if sponsor_block else None
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
