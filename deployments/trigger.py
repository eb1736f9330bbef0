"""Trigger the ``archive-sponsor/pre-deploy`` deployment from an application's CI, and wait for it.

Why not only ``prefect deployment run ... --watch``: quoting a JSON parameter of
GitHub metadata in YAML is where CI steps go wrong. This reads the metadata
from the CI's own variables (GITHUB_SHA, GITHUB_ACTOR, ...), starts the run,
waits, and returns the flow run so the caller can exit non-zero when it failed.
"""

from __future__ import annotations

from typing import Any

from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment

from blocks.settings import deployment_metadata_from_environment
from flows.parameters import sponsor_parameters
from hht_archival.errors import ConfigError
from hht_archival.naming import validate_environment, validate_sponsor

PRE_DEPLOY = "archive-sponsor/pre-deploy"


def pre_deploy_parameters(sponsor: str, environment: str, version: str | None) -> dict[str, Any]:
    validate_sponsor(sponsor)
    validate_environment(environment, sponsor)
    metadata = deployment_metadata_from_environment()
    if version:
        metadata["version"] = version
    return sponsor_parameters(sponsor=sponsor, environment=environment, deployment=metadata)


def trigger_pre_deploy(
    sponsor: str, environment: str, version: str | None = None, timeout_seconds: float | None = None
) -> FlowRun:
    """Start the pre-deploy run and block until it ends (or ``timeout_seconds`` pass)."""
    parameters = pre_deploy_parameters(sponsor, environment, version)
    try:
        return run_deployment(PRE_DEPLOY, parameters=parameters, timeout=timeout_seconds, as_subflow=False)
    except Exception as exc:  # no server, no such deployment: say what to do
        raise ConfigError(
            f"Could not start {PRE_DEPLOY} for sponsor {sponsor} ({type(exc).__name__}: {exc}); check "
            "PREFECT_API_URL and that `prefect deploy --all` was run for this repository."
        ) from None
