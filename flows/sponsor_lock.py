"""One archive at a time per sponsor and environment, across processes, workers and machines.

A Prefect global concurrency limit of 1 named ``archive-{sponsor}-{environment}``
is the lock: every worker on the same server sees it, and Prefect's leases free
a slot whose holder crashed. The limit is created on first use.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from hht_archival.errors import ArchivalError, TransientError


def lock_name(sponsor: str, environment: str) -> str:
    return f"archive-{sponsor}-{environment}"


def _ensure_limit(name: str) -> None:
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
            except ObjectAlreadyExists:
                pass  # another run created it first: same limit


@contextmanager
def sponsor_lock(sponsor: str, environment: str, timeout_seconds: float) -> Iterator[None]:
    """Hold the sponsor's slot; wait up to ``timeout_seconds`` for a run already holding it."""
    name = lock_name(sponsor, environment)
    _ensure_limit(name)
    acquired = False
    try:
        with concurrency(name, occupy=1, timeout_seconds=timeout_seconds, strict=True):
            acquired = True
            yield
    except ConcurrencySlotAcquisitionError as exc:
        if acquired:
            raise
        raise TransientError(
            f"The Prefect API could not grant the archive lock for sponsor {sponsor} ({environment}): "
            f"{exc}; check the Prefect server (PREFECT_API_URL) and run again."
        ) from None
    except TimeoutError:
        if acquired:  # a timeout from the work itself, not from waiting for the lock
            raise
        raise ArchivalError(
            f"Another run for sponsor {sponsor} ({environment}) held the archive lock for more than "
            f"{timeout_seconds:.0f} s; wait for it to finish (see the Prefect UI) and run again, or raise "
            "ARCHIVAL_LOCK_TIMEOUT_SECONDS."
        ) from None
