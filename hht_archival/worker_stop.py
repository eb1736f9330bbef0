"""A worker that is stopped (Ctrl-C, SIGTERM from systemd) stops its runs first, as a cancel would.

Why: Prefect's process worker starts each flow run in a session of its own,
so a Ctrl-C at the worker's terminal never reaches the runs, and on its own
shutdown the worker ends them at once: seen here, the run's process gone within
two seconds, the flow run left Running on the server with no log and no alert.
So ``hht-archival worker`` runs ``prefect worker start`` as a child in a
process group of its own (the terminal's signal reaches only us) and, when
stopped, first sends each run's process group SIGTERM, which a run turns into
pg_dump ended, the upload aborted, its log written and its flow run Cancelled
(hht_archival/stopping.py), waits for them, then stops the worker with SIGINT,
its own clean shutdown. A second signal ends the worker and its runs at once.

Runs are found as the worker's descendants that lead a process group of
their own, read from /proc: Linux only; elsewhere the worker is stopped as
Prefect would stop it. With warm start those are the runs' clients, which pass
the signal on to the forked runs (hht_archival/warm_start/); the warm-start
server, a sibling of the worker, is ended last.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

from hht_archival import stopping

RUNS_STOP_WITHIN_SECONDS = 60.0  # a run stops in seconds; this bounds one stuck in something slower
WORKER_ENDS_WITHIN_SECONDS = 10.0  # Prefect's worker, its runs stopped, ends in about a second


def run_worker(command: list[str], say, helper: subprocess.Popen | None = None) -> NoReturn:
    """Run ``command`` (prefect worker start ...) until it ends or this process is stopped; exit as it did.

    ``helper``, a process in a group of its own that serves the worker (the
    warm-start server), is ended after the worker, whichever way it ends.
    """
    worker = subprocess.Popen(command, process_group=0)  # noqa: S603 (our own prefect, our arguments)

    def end_everything() -> None:  # a second signal: nothing waits any more
        for group in [*_run_groups(worker.pid), worker.pid, *([helper.pid] if helper else [])]:
            _signal_group(group, signal.SIGKILL)

    with stopping.signals_stop_runs(), stopping.on_exit_now(end_everything), _ending(helper):
        try:
            sys.exit(worker.wait())
        except stopping.RunStopped as stop:
            runs = _run_groups(worker.pid)
            say(
                f"Stopping the worker ({stop.signal_name}): stopping its {len(runs)} run(s) first, each "
                "writes its log and ends Cancelled; send it again to stop everything at once."
            )
            for group in runs:
                _signal_group(group, signal.SIGTERM)
            _wait_until_gone(runs, RUNS_STOP_WITHIN_SECONDS)
            _end_worker(worker)
            sys.exit(stop.exit_code)


@contextlib.contextmanager
def _ending(helper: subprocess.Popen | None):
    try:
        yield
    finally:
        if helper is not None:
            _end_worker(helper, first=signal.SIGTERM)


def _end_worker(worker: subprocess.Popen, first: int = signal.SIGINT) -> None:
    """SIGINT, Prefect's clean shutdown; then SIGTERM and SIGKILL if it does not end.

    Why not SIGINT alone: seen here, a worker whose run had just been stopped
    sometimes let that SIGINT pass and ran on (a second one ended it), so its
    service manager waited for ever; its runs are already stopped by now.
    """
    for signum, seconds in ((first, WORKER_ENDS_WITHIN_SECONDS), (signal.SIGTERM, 5.0)):
        _signal_group(worker.pid, signum)
        try:
            worker.wait(timeout=seconds)
            return
        except subprocess.TimeoutExpired:
            continue
    _signal_group(worker.pid, signal.SIGKILL)
    worker.wait()


def _run_groups(worker_pid: int) -> list[int]:
    """The worker's outermost descendants that lead a process group of their own: its flow runs."""
    children: dict[int, list[int]] = {}
    groups: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        pid, ppid, pgid = int(entry.name), int(fields[1]), int(fields[2])
        children.setdefault(ppid, []).append(pid)
        groups[pid] = pgid
    found, waiting = [], list(children.get(worker_pid, []))
    while waiting:
        pid = waiting.pop()
        if groups.get(pid) == pid:
            found.append(pid)  # a run; what it started (its pg_dump, a group of its own) is its to stop
        else:
            waiting.extend(children.get(pid, []))
    return found


def _signal_group(group: int, signum: int) -> None:
    try:
        os.killpg(group, signum)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


def _wait_until_gone(groups: list[int], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_alive(group) for group in groups):
        time.sleep(0.2)


def _alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
