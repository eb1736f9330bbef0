"""check_flag: decide once, per sponsor, whether this run archives, and record where that came from."""

from __future__ import annotations

from dataclasses import dataclass

from prefect.variables import Variable

from blocks.config import SponsorConfig, parse_flag
from hht_archival.errors import TransientError
from hht_archival.progress import announce
from tasks import archival_task


@dataclass(frozen=True)
class FlagDecision:
    enabled: bool
    source: str  # parameter | block | environment | prefect-variable | default


def prefect_variable_name(sponsor: str, environment: str) -> str:
    """The Prefect variable that can switch archival for one sponsor and environment."""
    return f"enable-s3-backup-archival-{sponsor}-{environment}"


def decide(config: SponsorConfig) -> FlagDecision:
    """Precedence: parameter, sponsor block, ENABLE_S3_BACKUP_ARCHIVAL, Prefect variable, default off."""
    flag = config.flag
    if flag.parameter is not None:
        return FlagDecision(flag.parameter, "parameter")
    if flag.block is not None:
        return FlagDecision(flag.block, "block")
    if flag.environment_raw is not None:
        return FlagDecision(
            parse_flag(flag.environment_raw, flag.environment_variable, config.sponsor), "environment"
        )
    name = prefect_variable_name(config.sponsor, config.environment)
    try:
        value = Variable.get(name, default=None)
    except Exception as exc:
        raise TransientError(
            f"The Prefect variable {name} for sponsor {config.sponsor} could not be read "
            f"({type(exc).__name__}); check the Prefect API or set ENABLE_S3_BACKUP_ARCHIVAL."
        ) from exc
    if value is not None:
        enabled = (
            value
            if isinstance(value, bool)
            else parse_flag(str(value), f"Prefect variable {name}", config.sponsor)
        )
        return FlagDecision(enabled, "prefect-variable")
    return FlagDecision(False, "default")


@archival_task(name="check_flag")
def check_flag(config: SponsorConfig) -> FlagDecision:
    decision = decide(config)
    announce(
        "Archival for sponsor %s (%s) is %s (from %s).",
        config.sponsor,
        config.environment,
        "ENABLED" if decision.enabled else "disabled",
        decision.source,
    )
    return decision
