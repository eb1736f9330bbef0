"""One compressed stream, two uploads: the first copy's pipe always, the second's while it keeps up.

Why a tee and not a second dump: pg_dump runs once (one snapshot, one load on
the sponsor's database) and the dump is compressed and hashed once, so both
copies hold the same bytes with the same SHA-256.

The back-pressure policy, in one place: the first copy is never given up for
the second. Every chunk goes to the first copy's pipe (waiting while it is
full, as a one-copy stream does), then to the second's. While the second's
pipe is full the stream waits for it too, but only within a budget: a grace
period (``grace_seconds``) plus ``max_slowdown`` of the time the stream has
run. Once the time spent waiting for the second copy alone exceeds that, the
second copy is dropped: its pipe fails with ``SecondCopyFellBehind``, its
multipart upload is aborted (nothing at its final key), the run ends
archived but degraded, and the first copy goes on at its own pace. A second
upload that fails outright (its destination down) is dropped the same way at
once. When the first copy has landed, the second gets what is left of its
budget (at least a few seconds, for its abort) to finish, and is given up
after that (tasks/second_stream.settle): a request hung at the second
destination does not hold the run. So a dead or slow second destination can
cost the first copy at most the grace period plus ``max_slowdown`` of its
time (and those few seconds); it can never fail it.
"""

from __future__ import annotations

import threading
import time

from hht_archival.adapters.pipe import BoundedPipe, StreamAborted
from hht_archival.errors import ArchivalError


class SecondCopyFellBehind(ArchivalError):
    """The second copy could not keep up within its budget; the first copy went on without it."""


class Tee:
    """A pipe-like sink for the compress stage: ``put``, ``close``, ``fail`` reach both copies' pipes."""

    def __init__(
        self,
        first: BoundedPipe,
        second: BoundedPipe,
        *,
        grace_seconds: float,
        max_slowdown: float,
    ):
        self.first = first
        self.second = second
        self.grace_seconds = grace_seconds
        self.max_slowdown = max_slowdown
        self.waited = 0.0  # seconds the stream waited for the second copy alone: its cost to the first
        self.dropped: BaseException | None = None  # why the second copy was given up, once it was
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._first_landed = threading.Event()
        self._first_decided = threading.Event()  # the first copy landed, or its stream failed
        first.when_failed(self._first_decided.set)

    def put(self, chunk: bytes) -> None:
        """Send ``chunk`` to the first copy (its failure fails the stream), then to the second, in budget."""
        self.first.put(chunk)
        if self.dropped is not None:
            return
        allowed = self._budget_left()
        started = time.monotonic()
        try:
            landed = self.second.put(chunk, timeout=max(allowed, 0.0))
        except StreamAborted as exc:  # the second upload failed on its own: the first goes on
            self._drop(exc.cause, fail_pipe=False)
            return
        self.waited += time.monotonic() - started
        if not landed:
            self._drop(
                SecondCopyFellBehind(
                    f"it fell behind the first copy by more than its budget ({self.grace_seconds:g} s + "
                    f"{self.max_slowdown:.0%} of the stream's time; {self.waited:.1f} s waited): its "
                    "destination is slow or not answering"
                ),
                fail_pipe=True,
            )

    def close(self) -> None:
        """The stream is complete: the first copy's upload may complete, and the second's if still fed."""
        self.first.close()
        with self._lock:
            if self.dropped is None:
                self.second.close()

    def fail(self, error: BaseException) -> None:
        """The stream failed: both uploads abort (nothing at either final key)."""
        self.first.fail(error)
        self.second.fail(error)

    def when_failed(self, callback) -> None:
        self.first.when_failed(callback)

    @property
    def failure(self) -> BaseException | None:
        return self.first.failure

    def first_landed(self) -> None:
        """The first copy's upload completed: the second may complete its own."""
        self._first_landed.set()
        self._first_decided.set()

    def wait_for_first(self) -> None:
        """Called by the second upload before its object would appear: only after the first copy's did.

        Why: a run whose first copy failed must leave nothing at either final key;
        without this, a small dump's two PUTs race and the second could land alone.
        """
        self._first_decided.wait()
        if not self._first_landed.is_set():
            raise StreamAborted(self.first.failure or RuntimeError("the first copy did not land"))
        if self.dropped is not None:  # given up while it was still sending: it must not land now
            raise StreamAborted(self.dropped)

    def budget_left(self) -> float:
        """Seconds the second copy may still cost the stream (negative once it has cost more)."""
        return self._budget_left()

    def abandon(self, reason: BaseException) -> None:
        """Give the second copy up after the first landed (it did not finish within its budget)."""
        self._drop(reason, fail_pipe=True)

    def _budget_left(self) -> float:
        elapsed = time.monotonic() - self._started
        return self.grace_seconds + self.max_slowdown * elapsed - self.waited

    def _drop(self, reason: BaseException, fail_pipe: bool) -> None:
        with self._lock:
            if self.dropped is None:
                self.dropped = reason
        if fail_pipe:
            self.second.fail(reason)  # its upload aborts its multipart upload and ends
