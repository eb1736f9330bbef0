"""restore-drill's parameters in one place: the list, their titles and descriptions, how they resolve.

The same pattern as archive-sponsor's (flows/parameters.py, which says why the
flow's signature must name each one too): the drill's form in the UI reads like
on-demand's, with titles and an empty field for "the default", and the weekly
(flows/drill_all_sponsors.py) builds each sponsor's parameters here, so a
misspelt one fails in the weekly, not on a worker.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from blocks.defaults import DEFAULT_ENVIRONMENT
from blocks.manifest import SponsorRun
from flows.form import EnvironmentChoice, Text, field, optional

LATEST = "latest"


class DrillParameters(BaseModel):
    """The restore-drill form: an empty text field means "the default" (flows/form.py says why)."""

    model_config = ConfigDict(extra="forbid")

    sponsor: Text = field(
        "Sponsor",
        "Sponsor (tenant) whose backup to drill: lowercase letters, digits, hyphens. Empty: SPONSOR, else "
        "callisto.",
    )
    environment: EnvironmentChoice = field("Environment", "production, staging or dev.", DEFAULT_ENVIRONMENT)
    backup: Text = field(
        "Backup", "latest, a date (YYYY-MM-DD) or an archived key. Empty: the latest backup.", LATEST
    )
    sponsor_block: Text = field(
        "Sponsor block",
        "Name of this sponsor's hht-sponsor-archival block (its buckets, credentials and drill scratch "
        "server); a block of another sponsor is refused. Empty: none.",
    )
    env_prefix: Text = field(
        "Variable prefix",
        "The sponsor's own variable prefix (TITAN_ for titan); any other is refused. Empty: the "
        "sponsor's own.",
    )
    manifest: Text = field(
        "Sponsor manifest",
        "Read this sponsor's entry of this sponsor manifest (region, buckets, prefix, block, drill scratch "
        "server). Empty: none.",
    )

    def chosen(self) -> dict[str, Any]:
        """Each parameter as ``resolve_named`` takes it (None for "the default"), and the backup to drill."""
        values = {name: optional(getattr(self, name)) for name in type(self).model_fields}
        values["backup"] = values["backup"] or LATEST
        return values


def drill_form(name: str) -> Any:
    """The signature's default for parameter ``name``: its default, title and description, for Prefect."""
    it = DrillParameters.model_fields[name]
    return Field(default=it.default, description=it.description, json_schema_extra=it.json_schema_extra)


def drill_run_parameters(run: SponsorRun) -> dict[str, Any]:
    """A manifest sponsor's drill: the sponsor and the manifest that binds its settings, nothing else.

    As for the nightly's runs (flows/parameters.py), no parameter carries a
    prefix, a block or a server that could point one sponsor at another's.
    """
    chosen = DrillParameters(sponsor=run.sponsor, environment=run.environment, manifest=run.settings.path)
    return chosen.model_dump(mode="json", exclude_unset=True)
