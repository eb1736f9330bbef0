"""What Prefect's worker starts for a flow run when warm start is on: it asks the server to fork the run.

To the worker this process is the run: it sends the signals it receives on to
the forked run's process group (a cancel's SIGTERM, a Ctrl-C's SIGINT) and ends
with the run's own exit status, or by the same signal. Should this process be
killed outright (SIGKILL, which cannot be forwarded), the run notices its
connection close and kills itself too, as a run process killed by the worker
would be gone. Stdlib only, so it starts in milliseconds.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from typing import NoReturn

from hht_archival.warm_start import SOCKET_VARIABLE
from hht_archival.warm_start.protocol import PID, STATUS, receive_reply, send_request

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def main() -> NoReturn:
    _lead_own_session()
    path = os.environ.get(SOCKET_VARIABLE, "")
    forwarder = _Forwarder()
    if not path:
        _start_cold(None, forwarder)
    try:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.connect(path)
        send_request(connection, _request())
        kind, pid = receive_reply(connection)
    except OSError as exc:
        _start_cold(f"the worker's warm-start server did not answer ({exc})", forwarder)
    if kind != PID:
        _start_cold("the worker's warm-start server could not start this run", forwarder)
    forwarder.attach(pid)
    try:
        kind, status = receive_reply(connection)
    except OSError:
        _end_like(_orphaned_status(pid))
    _end_like(status if kind == STATUS else 1 << 8)


def _lead_own_session() -> None:
    """As Prefect isolates a run it starts itself: a signal to the worker's group is not the run's.

    ``hht-archival worker`` also finds its runs this way, as the worker's
    descendants that lead a group (worker_stop.py), to stop them first.
    """
    try:
        os.setsid()
    except PermissionError:
        pass  # already leads its group (started with a session of its own)


def _request() -> dict:
    mask = os.umask(0)
    os.umask(mask)
    return {
        "environment": dict(os.environ),
        "directory": os.getcwd(),
        "umask": mask,
        "arguments": sys.argv[1:],
    }


class _Forwarder:
    """Signals received before the run's pid is known are kept and sent once it is."""

    def __init__(self):
        self.pid: int | None = None
        self.pending: list[int] = []
        for signum in FORWARDED:
            signal.signal(signum, self._received)

    def attach(self, pid: int) -> None:
        self.pid = pid
        for signum in self.pending:
            _send(pid, signum)

    def _received(self, signum, _frame) -> None:
        if self.pid is None:
            self.pending.append(signum)
        else:
            _send(self.pid, signum)


def _send(pid: int, signum: int) -> None:
    """To the run's process group (what Prefect signals), or the run alone before it has made its group."""
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def _orphaned_status(pid: int) -> int:
    """The server went away before the run's end was reported: the end is unknown, so a failure."""
    print(f"hht-archival: the warm-start server stopped while flow run process {pid} ran", file=sys.stderr)
    return 1 << 8


def _end_like(status: int) -> NoReturn:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        code = 128 - code
    sys.exit(code)


def _start_cold(reason: str | None, forwarder: _Forwarder) -> NoReturn:
    """Prefect's own way: this process becomes ``python -m prefect.engine`` (unless already told to stop)."""
    for signum in FORWARDED:
        signal.signal(signum, signal.SIG_DFL)
    for signum in forwarder.pending:
        os.kill(os.getpid(), signum)
    if reason:
        print(f"hht-archival: {reason}; starting the flow run cold.", file=sys.stderr, flush=True)
    os.execv(sys.executable, [sys.executable, "-m", "prefect.engine", *sys.argv[1:]])  # noqa: S606


if __name__ == "__main__":
    main()
