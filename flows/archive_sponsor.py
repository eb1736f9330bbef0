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

from blocks.binding import home_sponsor
from blocks.config import resolve_config
from blocks.manifest import manifest_settings
from blocks.sponsor import load_sponsor_block
from flows.pipeline import run_pipeline
from hht_archival.errors import ConfigError
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
    environment = params.get("environment") or os.environ.get("DEPLOYMENT_ENVIRONMENT") or "production"
    return f"archive-{sponsor}-{environment}"


@flow(name="archive-sponsor", flow_run_name=_run_name, log_prints=False, persist_result=False)
def archive_sponsor(
    sponsor: str | None = None,
    environment: str | None = None,
    enabled: bool | None = None,
    sponsor_block: str | None = None,
    deployment: ApplicationDeployment | None = None,
    env_prefix: str | None = None,
    manifest: str | None = None,
    log_dir: str | None = None,
) -> dict[str, Any]:
    """Archive one sponsor's database and deployment log to S3, or record why not.

    Returns the JSON log as a dict plus ``local_log``, the path of its local copy.
    Raises ArchivalFailed (after writing the local log) when anything failed.
    Every setting comes from a source bound to the sponsor (blocks/config.py):
    no parameter can point one sponsor at another sponsor's database or buckets.

    Args:
        sponsor: Sponsor (tenant) name: lowercase letters, digits, hyphens. Default SPONSOR, else callisto.
        environment: production, staging or dev. Default DEPLOYMENT_ENVIRONMENT, else production.
        enabled: Override the feature flag for this run. Empty follows the sponsor block,
            the sponsor's ENABLE_S3_BACKUP_ARCHIVAL, the Prefect variable, then off.
        sponsor_block: Name of this sponsor's hht-sponsor-archival block (its buckets, database
            secret, credentials and flag); a block of another sponsor is refused.
        deployment: The application deployment this backup precedes (version, git SHA, actor, run URL).
        env_prefix: The sponsor's own variable prefix (TITAN_ for titan); any other is refused.
        manifest: Read this sponsor's entry of this sponsor manifest (region, buckets, prefix, block).
        log_dir: Local log directory; the log goes to a subdirectory named after the sponsor.
            Default ARCHIVAL_LOG_DIR, else ./deployment-logs.
    """
    started_at = utc_now_iso()
    try:
        config = _resolve(
            sponsor, environment, enabled, sponsor_block, deployment, env_prefix, manifest, log_dir
        )
    except Exception as exc:
        raise record_config_failure(exc, sponsor, environment, log_dir, started_at) from exc
    return run_pipeline(config, started_at)


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
