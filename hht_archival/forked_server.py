"""The embedded Prefect API in a fork of the command, which has imported Prefect already.

Why: a new interpreter for the server spent its first 1-1.5 s importing
Prefect again, the same modules this process had just imported, before it
could import the server's application; on a new HOME that was most of the
wait for the server. A fork shares those modules and starts at the server's
own imports. It is Prefect's own server still (``create_app`` under uvicorn,
as ``prefect server start`` runs it), in a session of its own, stopped by
the kernel when the command dies (PR_SET_PDEATHSIG).

A server can also be forked before it is needed (``ForkedServer.prepare``):
it imports and builds Prefect's server application (server_application.py),
touching nothing of the run, and serves once told its port (``serve``);
closing its pipe ends it instead. Either way the child holds Python's
garbage collector back while it imports (import_gc.py) and is served by
uvicorn's server stopped promptly (prompt_server.py).

A fork is taken only while this process has one thread (a fork copies only
the thread that calls it, and a lock another thread held would stay held in
the child); otherwise engine.py starts a new interpreter as before. The
child lets go of the command's connections and pipes first. The child's ``os.environ``, which Prefect's
settings are read from, is Prefect's settings only, as the new interpreter's
was; like any fork it holds a copy of the command's memory (and /proc shows
the command's environment for it), and reads nothing of it but Prefect's modules.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

from hht_archival.switches import switched_on

_PR_SET_PDEATHSIG = 1
_GROUP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
SETTING = "ARCHIVAL_PREFECT_API_FORK"  # "off": the embedded API starts in a new interpreter, as before


def may_fork() -> bool:
    """Whether a fork is safe here (Linux, one thread: see above) and not turned off."""
    return (
        switched_on(os.environ, SETTING)
        and sys.platform == "linux"
        and threading.current_thread() is threading.main_thread()
        and threading.active_count() == 1
        and len(os.listdir("/proc/self/task")) == 1  # no thread Python does not know of either
    )


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP while a server process starts; deliver them after.

    Why: a Ctrl-C reaches the whole foreground group. Until a forked child has
    left it, the signal must not find the command's handlers there (they would
    stop a "run" in the child); and in the command, the handler must not run
    before the child's handle is stored, or no one would stop the child. A
    server started in a new interpreter inherits the held signals and releases
    them first thing (engine._SERVER_MAIN).
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, _GROUP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _GROUP_SIGNALS)


class ForkedServer:
    """What engine.EmbeddedApi needs of its server's process, as subprocess.Popen offers it."""

    def __init__(self, pid: int, go: int | None = None):
        self.pid = pid
        self.returncode: int | None = None
        self._go = go  # a prepared server's pipe: it serves once told its port here

    @classmethod
    def start(cls, port: int, environment: dict[str, str], output: Path | None) -> ForkedServer:
        """Fork the server; call it inside ``signals_deferred``, storing what it returns there."""
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _serve(port, environment, output)  # never returns
        return cls(pid)

    @classmethod
    def prepare(cls, environment: dict[str, str], output: Path | None) -> ForkedServer:
        """Fork a server that imports and builds Prefect's server application, then waits for ``serve``.

        Why: that is most of the server's start, and it touches nothing
        of the run's (no database, no port), so it can go on while this process
        still checks the run's inputs; a run those checks stop just ``stop``s it.
        Call it inside ``signals_deferred``, as ``start``.
        """
        read, write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.close(write)
            _serve(None, environment, output, go=read)  # never returns
        os.close(read)
        return cls(pid, go=write)

    @property
    def prepared(self) -> bool:
        """Whether this server waits for ``serve`` (and has not ended meanwhile)."""
        return self.poll() is None and self._go is not None

    def serve(self, port: int, environment: dict[str, str]) -> None:
        """Tell a prepared server its port and the last of its settings; it starts serving."""
        assert self._go is not None, "only a prepared server waits to be told its port"
        message = json.dumps({"port": port, "environment": environment}).encode()
        try:
            os.write(self._go, message)
        except BrokenPipeError:  # it ended meanwhile: the caller sees that in poll()
            pass
        finally:
            self._close_go()

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by someone else: gone, its status unknown
                pid, status = self.pid, 255 << 8
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
                self._close_go()  # a server that ended waits for nothing
        return self.returncode

    def _close_go(self) -> None:
        """Close a prepared server's pipe: one not yet told to serve then ends of itself."""
        if self._go is not None:
            os.close(self._go)
            self._go = None

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired("the embedded Prefect API", timeout)
            time.sleep(0.02)
        return self.returncode

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        self._close_go()
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)


def _serve(port: int | None, environment: dict[str, str], output: Path | None, go: int | None = None) -> None:
    """In the child: leave the command's session, streams and environment, run the server, never return.

    With ``go`` (a prepared server), the port and the last settings come from that pipe once the
    server's application is imported; if the pipe closes without them, the child exits having
    touched nothing.
    """
    code = 1
    try:
        parent = os.getppid()
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(-1)
        for signum in _GROUP_SIGNALS:  # what was sent to the command's group meanwhile is dropped
            signal.signal(signum, signal.SIG_IGN)
        os.setsid()
        for signum in _GROUP_SIGNALS:  # still blocked: from here a signal waits, then ends the server
            signal.signal(signum, signal.SIG_DFL)
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the command ended before the line above took effect
            os._exit(1)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _GROUP_SIGNALS)
        _let_go_of_connections(keep=go)
        _take_streams(output)
        os.environ.clear()
        os.environ.update(environment)
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()  # settings from the server's environment, not the command's
        from hht_archival import import_gc
        from hht_archival.prompt_server import serve
        from hht_archival.server_application import build_application

        import_gc.hold_back()
        application = build_application()  # for a prepared server, the wait's purpose
        import_gc.started()
        if go is not None:
            told = _read_all(go)
            if not told:  # the command no longer needs it
                os._exit(0)
            told = json.loads(told)
            port = told["port"]
            os.environ.update(told["environment"])  # read when the application starts (its lifespan)
            refresh_global_settings_context()

        serve(application, port)
        code = 0
    except SystemExit as exc:  # uvicorn exits so when it cannot bind or start the application
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _read_all(descriptor: int) -> bytes:
    chunks = []
    while chunk := os.read(descriptor, 65536):
        chunks.append(chunk)
    os.close(descriptor)
    return b"".join(chunks)


def _let_go_of_connections(keep: int | None = None) -> None:
    """Point every socket and pipe the child inherited (the command's) at /dev/null.

    Why: a copy held here would keep a connection open after the command
    closed it: a PostgreSQL session, a keep-alive connection to S3 (the checks
    before the run leave one), a pipe its caller reads to the end. A new
    interpreter never had them (close_fds). Pointed elsewhere rather than
    closed, so that a number the command's objects still name is never
    reused for a file of the server's.
    """
    devnull = os.open(os.devnull, os.O_RDWR)
    for name in os.listdir("/proc/self/fd"):
        descriptor = int(name)
        if descriptor < 3 or descriptor in (devnull, keep):
            continue
        with contextlib.suppress(OSError):  # the listing's own descriptor, closed by now
            if os.readlink(f"/proc/self/fd/{name}").startswith(("socket:", "pipe:")):
                os.dup2(devnull, descriptor)
    os.close(devnull)


def _take_streams(output: Path | None) -> None:
    """Standard input from /dev/null; output to the server's log file (kept where it cannot start)."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    if output is not None:
        log = os.open(output, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
