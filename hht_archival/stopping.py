"""Stopping a run: SIGINT or SIGTERM ends it within seconds, its log written, nothing half-done left behind.

Why a module of its own: a stop has to reach every place a run can be waiting
(the embedded API's start, the archive lock, the stream's three stages on
their threads, a retry's back-off), and only the main thread receives
signals. So the first signal does three things: it marks the stop (``requested``,
which waits and loops in any thread check), runs the hooks the waiting parts
registered (``on_stop``: the stream fails its pipes, which kills pg_dump and
aborts the multipart upload), and raises ``RunStopped`` in the main thread,
where it unwinds through whatever is waiting there. The run's own code turns
it into a failed local log and a flow run that ends Cancelled.

A second signal exits at once (``os._exit``): the processes registered with
``on_exit_now`` are killed and the run's emergency log is written, and still
nothing is left at a final S3 key, because an upload is completed only after
its stream ended whole.

Nothing here imports Prefect: the CLI installs the handlers before any engine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunStopped(BaseException):
    """The run was stopped by a signal.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception``
    on the way up mistakes it for a failure to retry or to report as broken.
    """

    def __init__(self, signum: int):
        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        super().__init__(f"stopped by {self.signal_name}")

    @property
    def exit_code(self) -> int:
        """What shells expect of a process ended by this signal: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


_lock = threading.Lock()
_stop: RunStopped | None = None
_event = threading.Event()
_hooks: dict[int, Callable[[RunStopped], None]] = {}
_exit_hooks: dict[int, Callable[[], None]] = {}
_next_id = 0
_installed_depth = 0


def requested() -> RunStopped | None:
    """The stop, if one was asked for in this process."""
    return _stop


def check() -> None:
    """Raise ``RunStopped`` if a stop was asked for: for loops that wait, in any thread."""
    if _stop is not None:
        raise _stop


def sleep(seconds: float) -> None:
    """``time.sleep`` that a stop ends at once, in any thread (it then raises ``RunStopped``)."""
    if _event.wait(max(seconds, 0)):
        check()


@contextmanager
def on_stop(hook: Callable[[RunStopped], None]) -> Iterator[None]:
    """Run ``hook(stop)`` once if the run is stopped while inside; at once if it already was.

    Hooks run on a thread of their own, never inside the signal handler, so a
    hook may take locks the interrupted main thread holds. Keep them short:
    fail a pipe, kill a process.
    """
    key = _register(_hooks, hook)
    try:
        if _stop is not None:
            _call_quietly(hook, _stop)
        yield
    finally:
        _unregister(_hooks, key)


@contextmanager
def on_exit_now(hook: Callable[[], None]) -> Iterator[None]:
    """Run ``hook()`` if a second signal ends the process at once: kill a child, write a last log."""
    key = _register(_exit_hooks, hook)
    try:
        yield
    finally:
        _unregister(_exit_hooks, key)


@contextmanager
def signals_stop_runs() -> Iterator[None]:
    """Inside, SIGINT and SIGTERM stop the run as this module describes; outside, as before.

    Only the main thread can take signals; elsewhere (a flow run on a thread of
    a manifest run) this is a no-op and the main thread's handlers serve. It
    nests: a flow entered from the CLI takes SIGTERM back from Prefect, whose
    own handler would otherwise mark the run Crashed without stopping its stream.
    """
    global _installed_depth
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _handle) for signum in STOP_SIGNALS}
    _installed_depth += 1
    try:
        yield
    finally:
        _installed_depth -= 1
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _handle(signum: int, frame) -> None:
    stop = request_stop(signum)
    if stop is None:  # the second signal
        _exit_now(signum)
    raise stop


def request_stop(signum: int) -> RunStopped | None:
    """Mark the stop and start its hooks; None if one was asked for already (the handler's first half)."""
    global _stop
    with _lock:
        if _stop is not None:
            return None
        _stop = RunStopped(signum)
        _event.set()
    name = signal.Signals(signum).name
    _say(
        f"\nStopping ({name}): ending pg_dump and any upload, then writing the local log; "
        f"send {name} again to exit at once.\n"
    )
    threading.Thread(target=_run_hooks, name="hht-archival-stop", daemon=True).start()
    return _stop


def _run_hooks() -> None:
    for hook in list(_hooks.values()):
        _call_quietly(hook, _stop)


def _exit_now(signum: int) -> None:
    """The second signal: kill what must not outlive us, write what must not be lost, exit."""
    for hook in list(_exit_hooks.values()):
        _call_quietly(hook)
    _say(f"\nStopped again ({signal.Signals(signum).name}): exiting now; no backup was completed.\n")
    os._exit(128 + signum)


def _say(text: str) -> None:
    """os.write, not print: the interrupted main thread may hold the stream's lock."""
    try:
        os.write(2, text.encode("utf-8"))
    except OSError:
        pass


def _call_quietly(hook: Callable, *args) -> None:
    with contextlib.suppress(Exception):  # one hook's trouble must not keep the others from stopping theirs
        hook(*args)


def _register(table: dict, hook: Callable) -> int:
    global _next_id
    with _lock:
        _next_id += 1
        table[_next_id] = hook
        return _next_id


def _unregister(table: dict, key: int) -> None:
    with _lock:
        table.pop(key, None)


def reset_for_tests() -> None:
    """Forget a stop: in-process tests run many flows in one interpreter."""
    global _stop
    with _lock:
        _stop = None
        _event.clear()
