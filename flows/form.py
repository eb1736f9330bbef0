"""The archive-sponsor form as the Prefect UI draws it: titles, choices, and an empty field for "the default".

Why types of our own: Prefect titles each field with the parameter's name,
draws an optional value with a value/None toggle under it, and an optional
bool as a switch that starts off (one click sends "disabled"). A ``Literal``
becomes a drop-down and a plain text field left empty means "the default".
Python callers (the command line, the nightly, tests) still pass None and
booleans: the validators turn them into the form's values. The parameters
themselves, with their titles, are in flows/parameters.py.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from blocks.defaults import environment_or_default
from hht_archival.naming import Environment

FOLLOW_SPONSOR = "sponsor's setting"
Archival = Literal["sponsor's setting", "on", "off"]


def _archival(value: Any) -> Any:
    if value is None:
        return FOLLOW_SPONSOR
    if isinstance(value, bool):
        return "on" if value else "off"
    return value


def _text(value: Any) -> Any:
    return "" if value is None else value


ArchivalChoice = Annotated[Archival, BeforeValidator(_archival)]
EnvironmentChoice = Annotated[Environment, BeforeValidator(environment_or_default)]
Text = Annotated[str, BeforeValidator(_text)]


def field(title: str, description: str, default: Any = "") -> Any:
    """A parameter default that also gives the form its title (Prefect otherwise shows the name)."""
    return Field(default=default, description=description, json_schema_extra={"title": title})


def archival_override(choice: str) -> bool | None:
    """The form's choice as the flag's parameter source: None follows the sponsor's own flag."""
    return {"on": True, "off": False}.get(choice)


def optional(text: str) -> str | None:
    """An empty text field means "the default"."""
    return text.strip() or None
