"""check_flag: decide once, per sponsor, whether this run archives, and record where that came from."""

from __future__ import annotations

from prefect.variables import Variable

from blocks.config import SponsorConfig
from blocks.flag import FlagDecision, decide_flag, describe_decision
from hht_archival.engine import embedded_api_in_use
from hht_archival.errors import TransientError
from hht_archival.progress import announce
from tasks import archival_task

__all__ = ["FlagDecision", "check_flag", "decide"]


def decide(config: SponsorConfig) -> FlagDecision:
    """The flag's precedence (blocks/flag.py), with the Prefect variable read from the run's Prefect API.

    An API this command started for itself (no server configured) holds no
    operator's variable, so there the variable is not a source: the same
    answer the command line gives when it decides before starting any engine.
    """
    read = None if embedded_api_in_use() else _read_variable(config.sponsor)
    return decide_flag(config.flag, config.sponsor, config.environment, read)


def _read_variable(sponsor: str):
    def read(name: str) -> object:
        try:
            return Variable.get(name, default=None)
        except Exception as exc:
            raise TransientError(
                f"The Prefect variable {name} for sponsor {sponsor} could not be read "
                f"({type(exc).__name__}); check the Prefect API or set ENABLE_S3_BACKUP_ARCHIVAL."
            ) from exc

    return read


@archival_task(name="check_flag")
def check_flag(config: SponsorConfig) -> FlagDecision:
    decision = decide(config)
    announce("%s", describe_decision(decision, config.sponsor, config.environment))
    return decision
