"""The second copy's part of the stream: its pipe and tee before, its outcome after (tasks/stream.py).

Why apart from stream.py: the stream's own rule is "any stage fails, all
stop"; the second copy is the one exception (it may fail alone, the first
copy goes on), and that exception reads better in one place than as
conditions through the stream.
"""

from __future__ import annotations

from dataclasses import dataclass

from blocks.config import SponsorConfig, load_settings
from hht_archival.adapters.pipe import BoundedPipe, StreamAborted
from hht_archival.adapters.s3 import StreamUpload
from hht_archival.adapters.tee import SecondCopyFellBehind, Tee
from hht_archival.errors import one_sentence
from hht_archival.progress import announce

SECOND_PIPE_CAPACITY = 16 * 1024 * 1024  # room for a part in flight at the slower destination
ABORT_WAIT_SECONDS = 3.0  # the least a second upload is given to end (abort) once the first copy is done


@dataclass(frozen=True)
class SecondStream:
    """What the second copy's upload did: ``sent``, or ``error`` (one sentence) when it was given up."""

    name: str
    where: str  # its name, bucket, region (and endpoint host): how every surface names it
    sent: StreamUpload | None
    error: str | None
    waited_seconds: float  # how long the stream waited for it alone: its cost to the first copy


def second_copy_sink(config: SponsorConfig, first: BoundedPipe) -> Tee | None:
    """The tee compress writes into when ``config`` has a second copy; None when it has one copy."""
    if config.second is None:
        return None
    settings = load_settings()
    return Tee(
        first,
        BoundedPipe(SECOND_PIPE_CAPACITY),
        grace_seconds=settings.archival_second_copy_grace_seconds,
        max_slowdown=settings.archival_second_copy_max_slowdown,
    )


def settle(tee: Tee, future) -> object:
    """Once the first copy is done: wait for the second upload within what is left of its budget.

    Returns its result, or the exception that ended it, or (still running: a
    request hung at its destination) the reason it was given up. Given up, it
    cannot complete any more (Tee.wait_for_first refuses); its multipart
    upload is aborted when its request returns, or by the lifecycle rule.
    """
    if not future.wrapped_future.done():
        future.wait(max(tee.budget_left(), ABORT_WAIT_SECONDS))
    if future.wrapped_future.done():
        try:
            return future.result(raise_on_failure=False)
        except Exception as exc:
            return exc
    tee.abandon(
        SecondCopyFellBehind(
            "it had not finished within its budget after the first copy landed: its destination is slow "
            "or not answering"
        )
    )
    return tee.dropped


def second_copy_outcome(config: SponsorConfig, tee: Tee, outcome: object) -> SecondStream:
    """The second upload's result or failure, as the run records it; the first copy succeeded."""
    second = config.second
    error = None
    if isinstance(outcome, BaseException):
        cause = tee.dropped or (outcome.cause if isinstance(outcome, StreamAborted) else outcome)
        error = (
            f"The second copy {second.describe()} of sponsor {config.sponsor} was not archived "
            f"({one_sentence(cause).rstrip('.')}); the first copy is archived and intact."
        )
        announce("⚠️  %s", error)
    return SecondStream(
        name=second.name,
        where=second.describe(),
        sent=None if error else outcome,
        error=error,
        waited_seconds=round(tee.waited, 3),
    )
