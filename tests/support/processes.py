"""The processes of a test: stopping a helper politely, then for sure; finding one a run left running."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM, up to ``timeout`` seconds to exit, then SIGKILL; a process already gone is left as it is."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def left_behind(prefect_home: Path | str) -> list[int]:
    """Processes still running with this PREFECT_HOME: an embedded API the run should have stopped.

    A forked API's /proc shows the command's environment, a new interpreter's its own: both hold it.
    """
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if f"PREFECT_HOME={prefect_home}".encode() in environ.split(b"\0"):
            found.append(int(pid))
    return found
