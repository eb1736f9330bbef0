"""CPU seconds of a stage of the stream, so a run's log says where its time went, not only how long it took.

Why: an archive on a small machine shares its cores between pg_dump, the
database's backend, compression, hashing and the upload; its wall time alone
cannot tell a slow disk from a busy core. Each stage's thread time is read
where it runs; pg_dump's own is read from /proc (Linux) after it exited and
before it is reaped, since a reaped process's figures are gone.
"""

from __future__ import annotations

import os
from pathlib import Path


def process_cpu_at_exit(pid: int) -> float | None:
    """Wait for ``pid`` to exit without reaping it, then its user + system CPU seconds; None if unknown."""
    try:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        fields = stat_fields(pid)
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    except (OSError, AttributeError, ValueError, IndexError):
        return None


def stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command's name (which may hold spaces): [0] state, [1] ppid, [11] utime..."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
