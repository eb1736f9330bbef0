"""One archive at a time per sponsor and environment, across processes, workers and machines.

The lock is an advisory lock in the sponsor's own database
(hht_archival/adapters/pg_lock.py): it ends with the session that holds it,
so no lock outlives its run, whichever way the run ends. This module says who
the holder is in Prefect's terms (the flow run, the host, the process) and
words what goes wrong for the run's log. docs/design.md says why it is not a
Prefect concurrency slot any more.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.runtime import flow_run

from blocks.config import SponsorConfig
from hht_archival.adapters.pg_lock import Holder, LockHeld, archive_lock
from hht_archival.errors import ArchivalError, in_context
from hht_archival.progress import announce
from hht_archival.record import utc_now_iso


@contextmanager
def sponsor_lock(config: SponsorConfig) -> Iterator[None]:
    """Hold the sponsor's archive lock; wait up to ``config.lock_timeout_seconds`` for a run holding it."""
    holder = Holder(
        run=flow_run.name or "hht-archival",
        run_id=str(flow_run.id or "none"),
        host=socket.gethostname(),
        pid=str(os.getpid()),
        started=utc_now_iso(),
    )
    acquired = False
    try:
        with archive_lock(
            config.database_url.get_secret_value(),
            config.sponsor,
            config.environment,
            wait_seconds=config.lock_timeout_seconds,
            lease_seconds=config.lock_lease_seconds,
            holder=holder,
            say=announce,
        ):
            acquired = True
            yield
    except ArchivalError as exc:
        if acquired or isinstance(exc, LockHeld):  # the work's own error, or already a whole sentence
            raise
        raise in_context(
            exc,
            f"The archive lock of sponsor {config.sponsor} ({config.environment}) could not be taken "
            f"({exc}); check that the database in DATABASE_URL answers, then run again.",
        ) from None
