"""The retry policy every task shares: exponential backoff with jitter, on transient errors only.

A wrong password or a missing bucket fails at once; throttling, 5xx answers and
an unreachable server are retried. Kept here as one wrapper, not per task.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, TypeVar

from prefect.tasks import exponential_backoff

from hht_archival import stopping
from hht_archival.errors import is_retryable

JITTER = 0.5
T = TypeVar("T")


def retry_on_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: spend a retry only if the failure says it is worth one.

    Never after a stop (SIGINT, SIGTERM): the stages' failures then echo the stop.
    """
    if stopping.requested():
        return False
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


def call_retrying(call: Callable[[], T], retries: int, first_delay_seconds: float, announce) -> T:
    """Run ``call`` under the tasks' policy: ``retries`` more attempts, doubling delays, transient only.

    For a step that must finish inside its task whatever happens, and so handles
    its own failure: write_log turns a failed upload into a local-only log, so a
    Prefect retry of the task would never see the error. ``announce`` reports each retry.
    """
    for attempt in range(retries + 1):
        try:
            return call()
        except Exception as exc:
            if attempt >= retries or not is_retryable(exc):
                raise
            delay = first_delay_seconds * 2**attempt
            delay *= 1 + random.uniform(-JITTER, JITTER)  # noqa: S311 (spreading retries, not secrecy)
            announce("retrying in %.1f s (attempt %d of %d): %s", delay, attempt + 2, retries + 1, exc)
            stopping.sleep(delay)  # a stop ends the back-off at once, on any thread
    raise AssertionError("unreachable")
