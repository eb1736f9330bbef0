"""archive-sponsor's parameters in one place: the list, their titles and descriptions, how they resolve.

Adding a parameter means a field of ``SponsorParameters`` here, plus the same
name in archive_sponsor's signature: Prefect draws the UI form from the flow
function's signature (types, defaults, titles, descriptions), never from a
model, so the signature has to name each parameter; its defaults come from
``form`` and tests/test_parameters.py holds the two lists together. Callers
that start the flow (the nightly, pre-deploy) build their parameters with
``sponsor_parameters``, so a misspelt one fails in the caller, not on a worker.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from blocks.config import SponsorConfig, resolve_config
from blocks.defaults import DEFAULT_ENVIRONMENT, sponsor_or_home
from blocks.manifest import SponsorRun, manifest_settings
from flows.form import (
    FOLLOW_SPONSOR,
    ArchivalChoice,
    EnvironmentChoice,
    SponsorChoice,
    Text,
    archival_override,
    field,
    optional,
)
from flows.sponsor_choice import unchosen_refusal
from hht_archival.errors import ConfigError


class ApplicationDeployment(BaseModel):
    """The application deployment this backup precedes; an empty field is not recorded."""

    # Text fields, not ``str | None``, so the form draws five plain boxes; ``given()`` is what the log keeps.

    model_config = ConfigDict(extra="allow", title="Application deployment")

    version: Text = Field(default="", title="Version", description="Application version being deployed.")
    git_sha: Text = Field(default="", title="Git SHA", description="Commit being deployed.")
    git_ref: Text = Field(default="", title="Git ref", description="Branch or tag being deployed.")
    actor: Text = Field(default="", title="Actor", description="Who started the deployment.")
    run_url: Text = Field(default="", title="Run URL", description="Link to the CI run.")

    def given(self) -> dict[str, Any]:
        """The fields the caller filled in (extra ones too), as the log records them."""
        return {k: v for k, v in self.model_dump().items() if v not in (None, "")}


def _deployment(value: Any) -> Any:
    return {} if value is None else value


Deployment = Annotated[ApplicationDeployment, BeforeValidator(_deployment)]


class SponsorParameters(BaseModel):
    """The archive-sponsor form: an empty text field means "the default" (flows/form.py says why)."""

    model_config = ConfigDict(extra="forbid")

    sponsor: SponsorChoice = field(
        "Sponsor",
        "The sponsor (tenant) to archive. Empty: the worker's SPONSOR, refused on a worker that serves "
        "several sponsors.",
    )
    environment: EnvironmentChoice = field("Environment", "production, staging or dev.", DEFAULT_ENVIRONMENT)
    enabled: ArchivalChoice = field(
        "Archival",
        '"on" or "off" for this run only; "sponsor\'s setting" follows the sponsor block, the sponsor\'s '
        "ENABLE_S3_BACKUP_ARCHIVAL, the Prefect variable, then off.",
        FOLLOW_SPONSOR,
    )
    sponsor_block: Text = field(
        "Sponsor block",
        "Name of this sponsor's hht-sponsor-archival block (its buckets, second copy, database secret, "
        "credentials and flag); a block of another sponsor is refused. Empty: none.",
    )
    deployment: Deployment = field(
        "Application deployment",
        "The application deployment this backup precedes (version, git SHA, actor, run URL). Empty: none.",
        {},
    )
    env_prefix: Text = field(
        "Variable prefix",
        "The sponsor's own variable prefix (TITAN_ for titan); any other is refused. Empty: the "
        "sponsor's own.",
    )
    manifest: Text = field(
        "Sponsor manifest",
        "Read this sponsor's entry of this sponsor manifest (region, buckets, prefix, block). Empty: none.",
    )
    log_dir: Text = field(
        "Local log directory",
        "Local log directory; the log goes to a subdirectory named after the sponsor. Empty: "
        "ARCHIVAL_LOG_DIR, else ./deployment-logs.",
    )

    def chosen(self) -> dict[str, Any]:
        """Each parameter as ``resolve_named`` takes it: None for "the default", the flag True/False/None."""
        values = {name: getattr(self, name) for name in type(self).model_fields}
        values = {name: optional(v) if isinstance(v, str) else v for name, v in values.items()}
        values["enabled"] = archival_override(self.enabled)
        deployment = self.deployment  # the default ({}) is not validated into the model
        values["deployment"] = (
            deployment.given() if isinstance(deployment, ApplicationDeployment) else dict(deployment)
        ) or None
        return values


def form(name: str) -> Any:
    """The signature's default for parameter ``name``: its default, title and description, for Prefect."""
    it = SponsorParameters.model_fields[name]
    return Field(default=it.default, description=it.description, json_schema_extra=it.json_schema_extra)


def sponsor_parameters(**values: Any) -> dict[str, Any]:
    """Parameters for a run of archive-sponsor started elsewhere (a deployment run, a child flow).

    Only the values given are sent, as JSON (a None is left to the default), so
    the run's parameters in the UI show what the caller chose and nothing else.
    """
    given = {name: value for name, value in values.items() if value is not None}
    sent = SponsorParameters(**given).model_dump(mode="json", exclude_unset=True, exclude_none=True)
    deployment = {k: v for k, v in sent.pop("deployment", {}).items() if v}  # an empty box is no choice
    return {**sent, "deployment": deployment} if deployment else sent


def sponsor_run_parameters(run: SponsorRun) -> dict[str, Any]:
    """A manifest sponsor's run: the sponsor and the manifest that binds its settings, nothing else.

    The run reads the entry itself, so no parameter carries a prefix, a block
    or a bucket that could point one sponsor at another's settings.
    """
    return sponsor_parameters(sponsor=run.sponsor, environment=run.environment, manifest=run.settings.path)


def resolve_named(
    *, sponsor_block: str | None = None, manifest: str | None = None, **settings: Any
) -> SponsorConfig:
    """``resolve_config`` with the block and the manifest entry given by name, as parameters name them.

    The one function every archive-sponsor run resolves with: the flow, and
    the command line before it starts an engine (hht_archival/cli/running.py
    says why it resolves too). ``settings`` are resolve_config's own arguments.
    """
    sponsor = settings.get("sponsor")
    refusal = unchosen_refusal(sponsor)
    if refusal:
        raise refusal
    entry = manifest_settings(manifest, sponsor_or_home(sponsor)) if manifest else None
    if entry and entry.block and sponsor_block and sponsor_block != entry.block:
        raise ConfigError(
            f"The sponsor manifest {manifest} names block {entry.block} for sponsor "
            f"{sponsor_or_home(sponsor)}, not {sponsor_block}; leave sponsor_block empty or run without "
            "the manifest."
        )
    block_name = sponsor_block or (entry.block if entry else None)
    if block_name:
        from blocks.sponsor import load_sponsor_block  # Prefect: only when a block is named

        settings["sponsor_block"] = load_sponsor_block(block_name)
    return resolve_config(manifest=entry, **settings)
