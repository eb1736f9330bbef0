"""The feature flag as a command decides it in its own process, before any flow runs.

One answer for ``run``, ``doctor`` and ``alerts``/``status``, and the same one
the ``check_flag`` task gives: without a configured Prefect server there is no
operator's Prefect variable to read, so the parameter, the sponsor block, the
environment and the default decide, and nothing of Prefect's engine starts;
with one, its variable is read too (tasks/check_flag.py).
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
