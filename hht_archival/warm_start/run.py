"""In the forked child: become the flow run's own process, then do what ``python -m prefect.engine`` does.

The child takes over the client's standard streams, working directory, umask
and environment, leads a session of its own (as Prefect's worker starts a run),
reads Prefect's settings again from that environment (Prefect reads them when
it is imported, which happened in the server with the worker's), and forgets
our own modules so they are imported from the deployed commit's clone that the
run's pull step provides. A daemon thread watches the client's connection: if
the client is killed outright, the run ends too, as a killed run process would.
"""

from __future__ import annotations

import os
import runpy
import signal
import socket
import sys
import tempfile
import threading
from dataclasses import dataclass

from hht_archival.warm_start import OUR_PACKAGES
from hht_archival.warm_start.protocol import STANDARD_STREAMS

_DEFAULT_HANDLERS = {
    signal.SIGINT: signal.default_int_handler,
    signal.SIGTERM: signal.SIG_DFL,
    signal.SIGCHLD: signal.SIG_DFL,
    signal.SIGHUP: signal.SIG_DFL,
    signal.SIGQUIT: signal.SIG_DFL,
    signal.SIGUSR1: signal.SIG_DFL,
    signal.SIGUSR2: signal.SIG_DFL,
}


@dataclass
class Job:
    connection: socket.socket
    request: dict
    descriptors: list[int]


def become_run(job: Job) -> None:
    """Returns when the flow run's engine returns; its SystemExit, as any process's, ends the child."""
    os.setsid()
    for target, descriptor in zip(STANDARD_STREAMS, job.descriptors, strict=True):
        if descriptor != target:
            os.dup2(descriptor, target)
            os.close(descriptor)
    sys.stdout.reconfigure(line_buffering=os.isatty(1))
    for signum, handler in _DEFAULT_HANDLERS.items():
        signal.signal(signum, handler)
    request = job.request
    os.umask(request["umask"])
    os.chdir(request["directory"])
    os.environ.clear()
    os.environ.update(request["environment"])
    tempfile.tempdir = None  # found again from the run's TMPDIR, not the one the server may have cached
    sys.argv = [sys.argv[0], *request["arguments"]]
    sys.path[0] = os.getcwd()  # as `python -m` puts the working directory first
    forget_our_modules()
    _read_prefect_settings_again()
    _end_with_client(job.connection)
    sys.modules.pop("prefect.engine", None)  # run afresh as __main__, as `-m` would, not over the loaded copy
    runpy.run_module("prefect.engine", run_name="__main__", alter_sys=True)


def forget_our_modules() -> None:
    for name in [name for name in sys.modules if name.split(".", 1)[0] in OUR_PACKAGES]:
        del sys.modules[name]


def _read_prefect_settings_again() -> None:
    import prefect.context
    from prefect.logging.configuration import setup_logging

    prefect.context.refresh_global_settings_context()
    setup_logging(incremental=False)


def _end_with_client(connection: socket.socket) -> None:
    def watch() -> None:
        try:
            while connection.recv(64):
                pass
        except OSError:
            pass
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="warm-start-client", daemon=True).start()
