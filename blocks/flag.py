"""The feature flag: its spellings, its sources in precedence order, and the decision between them.

Free of Prefect on purpose: the command line decides the flag before any
engine starts, so that a disabled run with no Prefect server configured needs
no engine at all. The one source that needs Prefect, the Prefect variable, is
read through a function the caller passes (or not at all).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hht_archival.errors import ConfigError

TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")


def parse_flag(raw: str, variable: str, sponsor: str) -> bool:
    """Parse a feature-flag spelling; anything unknown stops the run with one sentence."""
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(
        f"{variable}={raw!r} for sponsor {sponsor} is not a recognised value; "
        f"use one of {', '.join(TRUE_WORDS)} to enable or {', '.join(FALSE_WORDS)} to disable."
    )


@dataclass(frozen=True)
class FlagInputs:
    """The places the feature flag may come from, in precedence order; ``decide_flag`` decides."""

    parameter: bool | None = None
    block: bool | None = None
    environment_raw: str | None = None
    environment_variable: str = "ENABLE_S3_BACKUP_ARCHIVAL"


@dataclass(frozen=True)
class FlagDecision:
    enabled: bool
    source: str  # parameter | block | environment | prefect-variable | default


def prefect_variable_name(sponsor: str, environment: str) -> str:
    """The Prefect variable that can switch archival for one sponsor and environment."""
    return f"enable-s3-backup-archival-{sponsor}-{environment}"


def decide_flag(
    flag: FlagInputs,
    sponsor: str,
    environment: str,
    read_variable: Callable[[str], object] | None = None,
) -> FlagDecision:
    """Precedence: parameter, sponsor block, ENABLE_S3_BACKUP_ARCHIVAL, Prefect variable, default off.

    ``read_variable`` returns the named Prefect variable's value or None; without
    it (no Prefect server configured) the variable is not a source.
    """
    if flag.parameter is not None:
        return FlagDecision(flag.parameter, "parameter")
    if flag.block is not None:
        return FlagDecision(flag.block, "block")
    if flag.environment_raw is not None:
        return FlagDecision(
            parse_flag(flag.environment_raw, flag.environment_variable, sponsor), "environment"
        )
    if read_variable is not None:
        name = prefect_variable_name(sponsor, environment)
        value = read_variable(name)
        if value is not None:
            enabled = (
                value
                if isinstance(value, bool)
                else parse_flag(str(value), f"Prefect variable {name}", sponsor)
            )
            return FlagDecision(enabled, "prefect-variable")
    return FlagDecision(False, "default")


def describe_decision(decision: FlagDecision, sponsor: str, environment: str) -> str:
    """The line a run prints once the flag is decided."""
    state = "ENABLED" if decision.enabled else "disabled"
    return f"Archival for sponsor {sponsor} ({environment}) is {state} (from {decision.source})."
