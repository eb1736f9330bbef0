"""A bounded in-memory pipe between the stages of one streamed archive (dump | compress | upload).

Why bounded: the stages run at different speeds, and memory must stay flat
however large the database is, so a fast producer waits for a slow consumer
instead of queueing the dump in RAM. Why failable from both ends: when any
stage fails the others must stop too (pg_dump is killed, the multipart upload
aborted); a failure is never mistaken for the end of the stream, so an upload
is only completed after the producer closed the pipe cleanly.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

_M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


def keep_memory_flat() -> None:
    """Have glibc map every buffer of 128 KiB or more on its own and unmap it when freed.

    Why: the stream allocates and frees megabyte chunks on three threads. By
    default glibc raises its mmap threshold after the first such free and then
    serves these chunks from per-thread heaps that it rarely gives back, so RSS
    creeps up with the length of the dump although the bytes held stay bounded.
    A fixed threshold keeps RSS flat. A no-op where glibc is absent.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
    except (OSError, AttributeError):
        pass


class StreamAborted(Exception):
    """Another stage of the stream failed; ``cause`` is its error (the one to report)."""

    def __init__(self, cause: BaseException):
        super().__init__(f"the stream was aborted: {cause}")
        self.cause = cause


class BoundedPipe:
    """A queue of byte chunks holding at most ``capacity`` bytes (or one larger chunk)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.peak_bytes = 0  # the most this pipe ever held: what the flat-memory test reads
        self._chunks: deque[bytes] = deque()
        self._bytes = 0
        self._closed = False
        self._error: BaseException | None = None
        self._on_failure: list[Callable[[], object]] = []
        self._changed = threading.Condition()

    def put(self, chunk: bytes, timeout: float | None = None) -> bool:
        """Add a chunk, waiting while the pipe is full; raises ``StreamAborted`` once failed.

        With ``timeout``, give up after that many seconds of a full pipe and return False
        (the second copy's pipe: hht_archival/adapters/tee.py); otherwise True.
        """
        if not chunk:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while self._bytes and self._bytes + len(chunk) > self.capacity and self._error is None:
                if deadline is None:
                    self._changed.wait()
                elif not self._changed.wait(max(0.0, deadline - time.monotonic())):
                    if self._error is None and time.monotonic() >= deadline:
                        return False
            if self._error is not None:
                raise StreamAborted(self._error)
            if self._closed:
                raise RuntimeError("put() on a closed pipe")
            self._chunks.append(chunk)
            self._bytes += len(chunk)
            self.peak_bytes = max(self.peak_bytes, self._bytes)
            self._changed.notify_all()
        return True

    def close(self) -> None:
        """The producer's promise that the stream is complete and verified."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def fail(self, error: BaseException) -> None:
        """Stop both ends; the first error wins (it is the cause, later ones are its echoes)."""
        with self._changed:
            first = self._error is None
            if first:
                self._error = error.cause if isinstance(error, StreamAborted) else error
            self._changed.notify_all()
            callbacks, self._on_failure = (self._on_failure, []) if first else ([], self._on_failure)
        for callback in callbacks:
            _quietly(callback)

    def when_failed(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` when the pipe fails (at once if it has): for an end blocked outside the pipe.

        Why: a producer waiting on something else (pg_dump blocked on a table
        lock writes nothing) would never see the failure through ``put``; the
        callback stops it where it waits (kills the process).
        """
        with self._changed:
            if self._error is None:
                self._on_failure.append(callback)
                return
        _quietly(callback)

    @property
    def failure(self) -> BaseException | None:
        """The error the pipe was failed with (the cause, not an echo), or None."""
        return self._error

    def __iter__(self) -> Iterator[bytes]:
        """Yield chunks until the producer closes the pipe; raise ``StreamAborted`` if it fails."""
        while True:
            with self._changed:
                while not self._chunks and not self._closed and self._error is None:
                    self._changed.wait()
                if self._error is not None:
                    raise StreamAborted(self._error)
                if not self._chunks:
                    return
                chunk = self._chunks.popleft()
                self._bytes -= len(chunk)
                self._changed.notify_all()
            yield chunk


def _quietly(callback: Callable[[], object]) -> None:
    """A failure callback's own trouble (the process already gone) must not hide the failure it reacts to."""
    with contextlib.suppress(Exception):
        callback()


class PipeWriter:
    """A write-only file over a pipe, for compressors that write to a file object."""

    def __init__(self, pipe: BoundedPipe):
        self._pipe = pipe

    def write(self, data) -> int:
        self._pipe.put(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


@contextmanager
def failing(*pipes: BoundedPipe) -> Iterator[None]:
    """On any error inside, fail every given pipe, so the stages on their other ends stop too."""
    try:
        yield
    except BaseException as exc:
        for pipe in pipes:
            pipe.fail(exc)
        raise


def root_cause(failures: list[BaseException]) -> BaseException:
    """The error that stopped a stream: the first that is not another stage's echo of it."""
    for failure in failures:
        if not isinstance(failure, StreamAborted):
            return failure
    return failures[0].cause


def run_stages(stages: dict[str, Callable[[], object]]) -> dict[str, object]:
    """Run the stages of a stream on threads of their own; return their results or raise the root cause.

    The Prefect flow runs its stages as tasks instead (tasks/stream.py); this is
    for benchmarks and tests that measure the stream without an orchestrator.
    """
    with ThreadPoolExecutor(max_workers=len(stages)) as pool:
        futures = {name: pool.submit(stage) for name, stage in stages.items()}
    failures = [f.exception() for f in futures.values() if f.exception() is not None]
    if failures:
        raise root_cause(failures)
    return {name: future.result() for name, future in futures.items()}


def stream_through(
    produce: Callable[[BoundedPipe], object],
    transform: Callable[[BoundedPipe, BoundedPipe], object],
    consume: Callable[[BoundedPipe], object],
    capacity: int,
) -> tuple[dict[str, object], int]:
    """Run produce | transform | consume on threads, joined by two pipes of ``capacity`` bytes.

    The flow runs the same three stages as Prefect tasks (tasks/stream.py); this
    is the stream alone, for the benchmark and the tests that measure it.
    ``produce`` closes its pipe when its stream is complete. Returns the results
    by stage ("dump", "compress", "upload") and the most the two pipes held.
    """
    raw, packed = BoundedPipe(capacity), BoundedPipe(capacity)

    def dump() -> object:
        with failing(raw):
            return produce(raw)

    def upload() -> object:
        with failing(packed):
            return consume(packed)

    results = run_stages({"dump": dump, "compress": lambda: transform(raw, packed), "upload": upload})
    return results, raw.peak_bytes + packed.peak_bytes
