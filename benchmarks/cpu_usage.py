"""CPU seconds of the processes an archive shares the machine with, read from /proc (Linux).

Why: on a small machine the archive's wall time is set by the CPU that pg_dump,
PostgreSQL's backend, our stages, the S3 server and the Prefect server take
from the same cores; measuring each explains a figure instead of only reporting it.
"""

from __future__ import annotations

import os
import resource

import psycopg

from hht_archival.adapters.cpu import stat_fields
from tests.support.workers import descendants  # the same /proc walk the fleet tests use

_TICK = os.sysconf("SC_CLK_TCK")


def process_tree_cpu(pid: int) -> float:
    """User + system seconds of ``pid``, its live descendants, and the children they reaped."""
    total = 0.0
    for member in [pid, *descendants(pid)]:
        try:
            fields = stat_fields(member)
        except OSError:
            continue  # ended meanwhile: its parent's cutime has it once reaped
        total += sum(int(value) for value in fields[11:15]) / _TICK  # utime, stime, cutime, cstime
    return total


def postmaster_pid(url: str) -> int:
    """The PostgreSQL server's main process: the parent of a backend."""
    with psycopg.connect(url) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    return int(stat_fields(backend)[1])


def children_cpu() -> float:
    """User + system seconds of this process's finished children (a command and what it started)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU seconds spent during a call by: our child processes, PostgreSQL, and each named server."""

    def __init__(self, database_url: str, servers: dict[str, int]):
        self.processes = {"PostgreSQL (backends)": postmaster_pid(database_url), **servers}

    def measure(self, call) -> tuple[object, dict[str, float]]:
        before = {name: process_tree_cpu(pid) for name, pid in self.processes.items()}
        mine = children_cpu()
        result = call()
        used = {"the command or pg_dump (with its children)": children_cpu() - mine}
        used.update({name: process_tree_cpu(pid) - before[name] for name, pid in self.processes.items()})
        return result, used
