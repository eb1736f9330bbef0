"""Every flow's form as the Prefect UI draws it: titles, choices, and an empty field for "the default".

Why types of our own: Prefect titles each field with the parameter's name,
draws an optional value (``str | None``) with a value/None toggle and
"Property is type "None"" under it, and an optional bool as a switch that
starts off (one click sends "disabled"). A ``Literal`` becomes a drop-down and
a plain text field left empty means "the default". Python callers (the command
line, the nightly, tests) still pass None and booleans: the validators turn
them into the form's values. The sponsor is a drop-down of the manifest's
sponsors when ``prefect deploy`` runs in a clone that has one
(flows/sponsor_choice.py says which and why).

Flow modules do not use ``from __future__ import annotations``: ``serve()``
pickles the flow function by value, and string annotations would then name
types (``Text``) its new process cannot find.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from blocks.defaults import environment_or_default
from flows.sponsor_choice import manifest_sponsors, run_label
from hht_archival.naming import Environment

FOLLOW_SPONSOR = "sponsor's setting"
EVERY_SPONSOR = "every sponsor"
ALL_ENVIRONMENTS = "all"
Archival = Literal["sponsor's setting", "on", "off"]
Environments = Literal["all", "production", "staging", "dev"]


def _archival(value: Any) -> Any:
    if value is None:
        return FOLLOW_SPONSOR
    if isinstance(value, bool):
        return "on" if value else "off"
    return value


def _text(value: Any) -> Any:
    return "" if value is None else value


def _or(empty: Any):
    return lambda value: empty if value is None else value


@dataclass(frozen=True)
class _ManifestChoices:
    """The sponsor field's drop-down: the manifest's sponsors when the form is drawn, else a text field."""

    first: str | None = None  # a choice before the sponsors ("every sponsor")

    def __get_pydantic_json_schema__(self, core_schema, handler):
        schema = handler(core_schema)
        names = manifest_sponsors()
        if names:
            schema["enum"] = [self.first, *names] if self.first else names
        return schema


ArchivalChoice = Annotated[Archival, BeforeValidator(_archival)]
EnvironmentChoice = Annotated[Environment, BeforeValidator(environment_or_default)]
EnvironmentScope = Annotated[Environments, BeforeValidator(_or(ALL_ENVIRONMENTS))]
Text = Annotated[str, BeforeValidator(_text)]
SponsorChoice = Annotated[str, BeforeValidator(_text), _ManifestChoices()]
SponsorScope = Annotated[str, BeforeValidator(_or(EVERY_SPONSOR)), _ManifestChoices(EVERY_SPONSOR)]
SponsorList = Annotated[list[Annotated[str, _ManifestChoices()]], BeforeValidator(_or([]))]
EnvironmentList = Annotated[list[Environment], BeforeValidator(_or([]))]
Count = Annotated[int, BeforeValidator(_or(0)), Field(ge=0)]


def field(title: str, description: str | None = None, default: Any = "") -> Any:
    """A parameter default that also gives the form its title (Prefect otherwise shows the name).

    Without a description the form takes the flow docstring's ``Args:`` line.
    """
    return Field(default=default, description=description, json_schema_extra={"title": title})


def archival_override(choice: str) -> bool | None:
    """The form's choice as the flag's parameter source: None follows the sponsor's own flag."""
    return {"on": True, "off": False}.get(choice)


def optional(text: str) -> str | None:
    """An empty text field means "the default"."""
    return text.strip() or None


def environment_filter(choice: str) -> str | None:
    """The environments field as the manifest's filter: None for all of each sponsor's."""
    return None if choice == ALL_ENVIRONMENTS else choice


def scope_run_name(prefix: str, params: dict, empty_means_every: bool = False) -> str:
    """A run of a sponsor-or-every-sponsor form by its choice: ``status-every-sponsor``,
    ``readiness-titan-production`` (an unchosen environment of one sponsor is its default)."""
    sponsor, environment = params.get("sponsor"), params.get("environment")
    every = sponsor in (None, EVERY_SPONSOR) or (empty_means_every and not sponsor)
    all_environments = environment in (None, "", ALL_ENVIRONMENTS)
    if every:
        return f"{prefix}-every-sponsor" + ("" if all_environments else f"-{environment}")
    chosen = environment_or_default(None) if all_environments else environment
    return f"{prefix}-{run_label(sponsor)}-{chosen}"
