"""What ``hht-archival worker`` starts: the warm-start server, and Prefect's worker told where to find it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hht_archival.warm_start import SETTING, SOCKET_VARIABLE, enabled

_LONGEST_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux


@contextmanager
def warm_start_server(say) -> Iterator[subprocess.Popen | None]:
    """The server's process (None when warm start is off), its socket named in this process's environment.

    The socket's directory is private to this user and removed afterwards;
    the caller ends the process (worker_stop.run_worker does, after the worker).
    """
    if not enabled(os.environ):
        say(f"Flow runs start cold ({SETTING}=off): each is a new Python process, as with Prefect's worker.")
        yield None
        return
    directory = Path(tempfile.mkdtemp(prefix="hht-archival-warm-"))
    path = directory / "runs.sock"
    if len(str(path)) > _LONGEST_SOCKET_PATH:
        shutil.rmtree(directory, ignore_errors=True)
        say(f"Flow runs start cold: the temporary directory's path is too long for a socket ({path}).")
        yield None
        return
    server = subprocess.Popen(  # noqa: S603 (this environment's Python, our module)
        [sys.executable, "-m", "hht_archival.warm_start.server", str(path)], process_group=0
    )
    os.environ[SOCKET_VARIABLE] = str(path)
    try:
        yield server
    finally:
        os.environ.pop(SOCKET_VARIABLE, None)
        shutil.rmtree(directory, ignore_errors=True)


def worker_command(prefect: str, warm: bool) -> list[str]:
    """The start of the command line for Prefect's worker: our warm subclass of it, or Prefect's own."""
    if warm:
        return [sys.executable, "-m", "hht_archival.warm_start.worker", "worker", "start"]
    return [prefect, "worker", "start"]
