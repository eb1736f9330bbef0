"""The feature flag as a command decides it in its own process, before any flow runs.

One answer for ``run``, ``doctor`` and ``alerts``/``status``, and the same one
the ``check_flag`` task gives: without a configured Prefect server there is no
operator's Prefect variable to read, so the parameter, the sponsor block, the
environment and the default decide, and nothing of Prefect's engine starts;
with one, its variable is read too (tasks/check_flag.py). Also which
variable switches it for a sponsor, for the banner and doctor to name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from blocks.flag import FlagDecision, decide_flag
from hht_archival.engine import configured_api_url

if TYPE_CHECKING:
    from blocks.config import SponsorConfig


def decide_without_a_server(config: SponsorConfig) -> FlagDecision | None:
    """The decision when no Prefect server is configured; None when one is (its variable may decide)."""
    if configured_api_url() is not None:
        return None
    return decide_flag(config.flag, config.sponsor, config.environment)


def decide_here(config: SponsorConfig) -> FlagDecision:
    """The decision a run of ``config`` would reach now, reading the server's variable if there is one."""
    decision = decide_without_a_server(config)
    if decision is not None:
        return decision
    from tasks.check_flag import decide  # imports Prefect: only where a server is configured

    return decide(config)


def reads_seed_names(config: SponsorConfig) -> bool:
    """Whether this sponsor reads the seed's unprefixed names (the home sponsor without a declared prefix)."""
    return "" in config.variable_prefixes or not config.variable_prefixes


def variable_to_set(config: SponsorConfig, name: str = "ENABLE_S3_BACKUP_ARCHIVAL") -> str:
    """The variable a person sets for this sponsor: the seed's name for the home sponsor, else its own."""
    return name if reads_seed_names(config) else config.variable_prefixes[0] + name
