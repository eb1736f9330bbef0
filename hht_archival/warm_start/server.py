"""The warm-start server: imports Prefect and the flows' libraries once, then forks one child per flow run.

Started by ``hht-archival worker`` beside Prefect's worker, in a process group
of its own, with the worker's environment; it listens on a Unix socket in a
directory only this user can enter, and checks each caller's user id. It stays
single-threaded (a fork copies only the thread that calls it, so a lock held
by another thread would stay held for ever in the child) and refuses a run,
which then starts cold, if anything started a thread or if the run asks for a
different ``PYTHON*`` environment (those are read when an interpreter starts,
which a fork does not do).

SIGTERM stops it from taking new runs; it still reports the end of those
running, then exits. A second SIGTERM exits at once.
"""

from __future__ import annotations

import importlib
import os
import selectors
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path

from hht_archival.warm_start.protocol import PID, REFUSED, STATUS, receive_request, send_reply
from hht_archival.warm_start.run import Job, become_run, forget_our_modules

# What a flow run imports before and while it runs, beyond our own modules (those come from the
# deployed commit, never from here). A module missing from this list is only imported in the run.
PRELOADED = (
    "prefect",
    "prefect.engine",
    "prefect.flow_engine",
    "prefect.task_engine",
    "prefect.flows",
    "prefect.tasks",
    "prefect.futures",
    "prefect.states",
    "prefect.artifacts",
    "prefect.variables",
    "prefect.runtime",
    "prefect.blocks.system",
    "prefect.concurrency.sync",
    "prefect.client.orchestration",
    "prefect.deployments.steps.core",
    "prefect.deployments.steps.utility",
    "prefect.events.clients",
    "prefect.logging.handlers",
    "prefect._internal.metrics",
    "prefect_aws",
    "boto3",
    "botocore.client",
    "s3transfer.manager",
    "psycopg",
    "pydantic_settings",
    "pydantic.v1",  # Prefect's flow parameter validation
    "yaml",
    "statistics",
    "compileall",  # deployments/pull.py, compiling a newly kept clone
)
_PEER_CREDENTIALS = struct.Struct("3i")  # SO_PEERCRED: pid, uid, gid


def main(argv: list[str] | None = None) -> None:
    path = Path((argv if argv is not None else sys.argv[1:])[0])
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # Its signal handling before the socket appears: whoever sees the socket may send SIGTERM at once,
    # and it must stop the server, not kill it with the socket left behind (and while preloading too).
    server = _Server(listener, path)
    listener.bind(str(path))  # before preloading: a run that comes early waits in the backlog
    listener.listen(64)
    started = time.monotonic()
    _preload()
    print(
        f"hht-archival: warm start ready ({len(sys.modules)} modules loaded in "
        f"{time.monotonic() - started:.1f} s); flow runs start from it",
        file=sys.stderr,
        flush=True,
    )
    job = server.serve()  # returns only in a forked child
    become_run(job)


def _preload() -> None:
    for name in PRELOADED:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - an optional module costs its run the import, nothing else
            print(f"hht-archival: warm start could not preload {name}: {exc}", file=sys.stderr)
    forget_our_modules()  # in case a library above imported one of ours


class _Server:
    def __init__(self, listener: socket.socket, path: Path):
        self.listener, self.path = listener, path
        self.runs: dict[int, socket.socket] = {}
        self.stopping = False
        self.python_environment = _python_variables(os.environ)
        self.wake_reader, wake_writer = socket.socketpair()
        self.wake_reader.setblocking(False)
        wake_writer.setblocking(False)
        self._wake_writer = wake_writer
        signal.set_wakeup_fd(wake_writer.fileno())
        for signum in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(signum, lambda *_: None)  # a Python handler, so the wake-up byte is written
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # ended by `hht-archival worker`, not a terminal
        self.selector = selectors.DefaultSelector()
        self.selector.register(listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.wake_reader, selectors.EVENT_READ, "signal")

    def serve(self) -> Job:
        while not self.stopping or self.runs:
            for key, _events in self.selector.select():
                if key.data == "signal":
                    self._signalled()
                elif not self.stopping:
                    job = self._accept()
                    if job is not None:
                        return job
        sys.exit(0)

    def _signalled(self) -> None:
        try:
            received = self.wake_reader.recv(512)
        except BlockingIOError:
            received = b""
        if signal.SIGTERM in received:
            if self.stopping:
                os._exit(0)
            self.stopping = True
            self.selector.unregister(self.listener)
            self.listener.close()
            self.path.unlink(missing_ok=True)
        self._reap()

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            connection = self.runs.pop(pid, None)
            if connection is not None:
                try:
                    send_reply(connection, STATUS, status)
                except OSError:
                    pass  # its client is gone; so is the run
                connection.close()

    def _accept(self) -> Job | None:
        connection, _address = self.listener.accept()
        connection.settimeout(10)
        try:
            _check_same_user(connection)
            request, descriptors = receive_request(connection)
        except (OSError, ValueError, ConnectionError) as exc:
            print(f"hht-archival: warm start refused a caller: {exc}", file=sys.stderr)
            connection.close()
            return None
        refusal = self._refusal(request)
        if refusal:
            print(f"hht-archival: this flow run starts cold: {refusal}", file=sys.stderr)
            return self._refuse(connection, descriptors)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self._leave_to_child(connection)
            return Job(connection, request, descriptors)
        for descriptor in descriptors:
            os.close(descriptor)
        connection.settimeout(None)
        send_reply(connection, PID, pid)
        self.runs[pid] = connection
        return None

    def _refusal(self, request: dict) -> str | None:
        if threading.active_count() > 1:
            return "a library started a thread in the warm-start server"
        if _python_variables(request["environment"]) != self.python_environment:
            return "its PYTHON* environment differs from the worker's"
        return None

    def _refuse(self, connection: socket.socket, descriptors: list[int]) -> None:
        for descriptor in descriptors:
            os.close(descriptor)
        try:
            send_reply(connection, REFUSED, 0)
        finally:
            connection.close()

    def _leave_to_child(self, connection: socket.socket) -> None:
        """In the child: nothing of the server's stays open or installed."""
        signal.set_wakeup_fd(-1)
        self.selector.close()
        self.listener.close()  # closed, not unlinked: the server still listens there
        self.wake_reader.close()
        self._wake_writer.close()
        for other in self.runs.values():
            other.close()
        connection.settimeout(None)


def _check_same_user(connection: socket.socket) -> None:
    credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEER_CREDENTIALS.size)
    _pid, uid, _gid = _PEER_CREDENTIALS.unpack(credentials)
    if uid != os.getuid():
        raise PermissionError(f"the caller runs as user id {uid}, not this worker's")


def _python_variables(environment) -> dict[str, str]:
    return {name: value for name, value in environment.items() if name.startswith("PYTHON")}


if __name__ == "__main__":
    main()
