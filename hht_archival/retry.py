"""The retry policy every task shares: exponential backoff with jitter, on transient errors only.

A wrong password or a missing bucket fails at once; throttling, 5xx answers and
an unreachable server are retried. Kept here as one wrapper, not per task.
"""

from __future__ import annotations

from typing import Any

from prefect.tasks import exponential_backoff

from hht_archival.errors import is_retryable

JITTER = 0.5


def retry_on_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: spend a retry only if the failure says it is worth one."""
    try:
        state.result()
    except Exception as exc:
        return is_retryable(exc)
    return False


def retry_options(retries: int, first_delay_seconds: float) -> dict[str, Any]:
    """Task options for ``Task.with_options``: ``retries`` attempts after the first, backing off."""
    delays: Any = exponential_backoff(backoff_factor=first_delay_seconds) if first_delay_seconds > 0 else 0
    return {
        "retries": retries,
        "retry_delay_seconds": delays,
        "retry_jitter_factor": JITTER if first_delay_seconds > 0 else None,
        "retry_condition_fn": retry_on_transient,
    }
