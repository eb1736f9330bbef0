"""Reading ``sponsors.yaml``: which fields an entry may have, and every mistake as one sentence.

It is validated whole before any work, and every mistake is reported as one
sentence naming the file, the line and sponsor, and the fix. YAML is loaded
with the safe loader only: tags that would construct objects are refused.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from blocks.binding import own_prefix
from blocks.defaults import DEFAULT_ENVIRONMENT, DEFAULT_REGION
from blocks.second_copy import SecondCopyEntry
from hht_archival.errors import ConfigError
from hht_archival.naming import Environment, validate_bucket, validate_sponsor

__all__ = ["Manifest", "SponsorEntry", "load_manifest"]

_PREFIX_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,40}_$")


class SponsorEntry(BaseModel):
    """One sponsor: its name, region, environments, and the source of its settings."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Sponsor name: lowercase letters, digits, hyphens.")
    region: str | None = Field(default=None, description="AWS region; default from `defaults`.")
    environments: list[Environment] | None = Field(default=None, description="Environments to archive.")
    env_prefix: str | None = Field(
        default=None,
        description="Read this sponsor's settings from prefixed variables, e.g. TITAN_DATABASE_URL.",
    )
    block: str | None = Field(default=None, description="Name of an hht-sponsor-archival block.")
    backups_bucket: str | None = None
    audit_logs_bucket: str | None = None
    drill_database_url: str | None = Field(
        default=None,
        description="Admin URL of this sponsor's restore drills' scratch server, without a password (the "
        "manifest is committed): the password goes in the workers' ~/.pgpass.",
    )
    copy2: SecondCopyEntry | None = Field(
        default=None, description="A second destination for every archive (README: a second copy)."
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return validate_sponsor(value)

    @field_validator("env_prefix")
    @classmethod
    def _valid_prefix(cls, value: str | None) -> str | None:
        if value is not None and not _PREFIX_RE.fullmatch(value):
            raise ValueError(
                f"env_prefix {value!r} must be uppercase letters, digits and underscores ending in '_', "
                "e.g. TITAN_"
            )
        return value

    @field_validator("drill_database_url")
    @classmethod
    def _no_password(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A committed file is read by everyone with the repository: a password there is leaked."""
        if value is None:
            return value
        from psycopg.conninfo import conninfo_to_dict

        try:
            parts = conninfo_to_dict(value)
        except Exception:
            raise ValueError("not a PostgreSQL URL, e.g. postgresql://postgres@scratch-db/postgres") from None
        if "password" in parts:
            prefix = info.data.get("env_prefix") or own_prefix(info.data.get("name") or "sponsor")
            raise ValueError(
                "it carries a password, and the manifest is committed; put the password in the workers' "
                f"~/.pgpass, or the whole URL in {prefix}ARCHIVAL_DRILL_DATABASE_URL on the workers instead"
            )
        return value


class Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region: str = DEFAULT_REGION
    environments: list[Environment] = Field(default_factory=lambda: [DEFAULT_ENVIRONMENT])


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    defaults: Defaults = Field(default_factory=Defaults)
    sponsors: list[SponsorEntry] = Field(min_length=1)


def load_manifest(path: Path | str) -> Manifest:
    """Read and validate ``path``; raise ConfigError with one sentence on the first problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"Sponsor manifest {path} does not exist; create it (see sponsors.example.yaml) or pass "
            "--manifest with the right path."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"Sponsor manifest {path} cannot be read ({exc}); fix its permissions or encoding."
        ) from None
    try:
        data = yaml.safe_load(text)
        lines = _sponsor_lines(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"Sponsor manifest {path}{where} is not valid YAML ({problem}); fix the syntax "
            "(plain mappings and lists only, no tags)."
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"Sponsor manifest {path} must be a mapping with a 'sponsors' list; see sponsors.example.yaml."
        )
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(path, data, lines, exc)) from None
    except ConfigError as exc:  # a name validator's own sentence
        raise ConfigError(f"Sponsor manifest {path}: {exc}") from None
    _check_unique_and_buckets(path, manifest, lines)
    return manifest


def _sponsor_lines(text: str) -> list[int]:
    """Line numbers (1-based) where each item of the top-level ``sponsors`` list starts."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if key.value == "sponsors" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _explain(path: Path, data: dict, lines: list[int], exc: ValidationError) -> str:
    errors = exc.errors()
    # A misspelt field also makes the real one "missing": report the misspelling, it is the cause.
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = list(error["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] == "sponsors" and isinstance(loc[1], int):
        index = loc[1]
        entry = (data.get("sponsors") or [None])[index] if index < len(data.get("sponsors") or []) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        line = f" line {lines[index]}" if index < len(lines) else ""
        where = f"{line} (sponsor {name or '#' + str(index + 1)})"
        loc = loc[2:]
    field = ".".join(str(part) for part in loc) or "sponsors"
    if error["type"] == "extra_forbidden":
        allowed = list(SponsorEntry.model_fields) if where else list(Manifest.model_fields)
        guess = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean '{guess[0]}'?" if guess else f"allowed fields: {', '.join(allowed)}."
        return f"Sponsor manifest {path}{where}: unknown field '{field}'; {hint}"
    message = error["msg"].removeprefix("Value error, ")
    return f"Sponsor manifest {path}{where}: {field} is invalid ({message}); fix it and run again."


def _check_unique_and_buckets(path: Path, manifest: Manifest, lines: list[int]) -> None:
    seen: dict[str, int] = {}
    for index, entry in enumerate(manifest.sponsors):
        line = lines[index] if index < len(lines) else index + 1
        if entry.name in seen:
            raise ConfigError(
                f"Sponsor manifest {path} line {line}: sponsor {entry.name} is listed twice (first at line "
                f"{seen[entry.name]}); merge the two entries."
            )
        seen[entry.name] = line
        for setting in ("backups_bucket", "audit_logs_bucket"):
            value = getattr(entry, setting)
            if value is not None:
                try:
                    validate_bucket(value, setting, entry.name)
                except ConfigError as exc:
                    raise ConfigError(f"Sponsor manifest {path} line {line}: {exc}") from None
