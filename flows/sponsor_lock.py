"""One archive at a time per sponsor and environment, across processes, workers and machines.

A Prefect global concurrency limit of 1 named ``archive-{sponsor}-{environment}``
is the lock: every worker on the same server sees it, and Prefect's leases free
a slot whose holder crashed. The limit is created on first use.

The lease is short (a killed run blocks the next for a minute, not five) and
renewed in the background. If a renewal fails (the API gone for a while), the
archive goes on rather than being cancelled: hours of dump are not thrown away
for a bookkeeping blip. The worst case is then a second run overlapping the
first: it writes its own keys (named a lease later), and the logs' hash chain
shows the fork, which ``verify --logs`` reports.
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
from hht_archival.progress import announce

LEASE_SECONDS = 60


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
    """Hold the sponsor's slot; wait up to ``timeout_seconds`` for a run already holding it.

    If releasing the slot fails (the API is gone), the work's own outcome stands:
    its result, or its error, which says what happened to the archive. The slot
    frees itself when its lease ends.
    """
    name = lock_name(sponsor, environment)
    _ensure_limit(name)
    acquired = False
    work_error: BaseException | None = None
    try:
        with concurrency(
            name,
            occupy=1,
            timeout_seconds=timeout_seconds,
            strict=True,
            lease_duration=LEASE_SECONDS,
            raise_on_lease_renewal_failure=False,
        ):
            acquired = True
            try:
                yield
            except BaseException as exc:
                work_error = exc
                raise
    except BaseException as exc:
        if acquired and exc is not work_error and isinstance(exc, Exception):  # only the release failed
            announce("The archive lock could not be released (%s); it frees itself when its lease ends.", exc)
            if work_error is not None:
                raise work_error from work_error.__cause__  # as it was: its own cause kept
            return
        if acquired:  # the work's own error (a TimeoutError from it is not the lock's)
            raise
        if isinstance(exc, ConcurrencySlotAcquisitionError):
            raise TransientError(
                f"The Prefect API could not grant the archive lock for sponsor {sponsor} ({environment}): "
                f"{exc}; check the Prefect server (PREFECT_API_URL) and run again."
            ) from None
        if isinstance(exc, TimeoutError):
            raise ArchivalError(
                f"Another run for sponsor {sponsor} ({environment}) held the archive lock for more than "
                f"{timeout_seconds:.0f} s; wait for it to finish (see the Prefect UI) and run again, or "
                "raise ARCHIVAL_LOCK_TIMEOUT_SECONDS."
            ) from None
        raise
