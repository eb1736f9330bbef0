"""`hht-archival worker` as a team runs it: in a clone of the team's remote at a path of its own.

Why here: the fleet's tests (deployments, a night that loses a worker) start
several, each standing for a machine of its own, with its own clone, its own
kept clones of deployed commits (ARCHIVAL_CODE_CACHE) and its own logs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.processes import stop
from tests.support.teamrepo import clone


class Worker:
    """One worker; ``team`` holds the team's ``remote``, a directory ``where`` and the ``server``."""

    def __init__(
        self, team, name: str, env: dict[str, str] | None = None, session: bool = False, limit: int = 2
    ):
        self.clone = clone(team["remote"], team["where"] / name)
        self.log = team["where"] / f"{name}.log"
        script = str(Path(sys.executable).with_name("hht-archival"))
        self.proc = subprocess.Popen(
            [script, "worker", "--limit", str(limit), "--name", name],  # two at a time each: both take some
            cwd=self.clone,
            env={
                **os.environ,
                **team["server"].env(),
                "PREFECT_WORKER_QUERY_SECONDS": "1",
                "ARCHIVAL_LOG_DIR": "",  # a new worker machine: its runs log in its own clone
                "ARCHIVAL_CODE_CACHE": str(team["where"] / f"{name}-code"),  # this machine's kept clones
                **(env or {}),
            },
            stdin=subprocess.DEVNULL,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=session,  # a terminal of its own, for a test that presses its Ctrl-C
        )
        self.name = name

    def logs(self) -> list[Path]:
        return sorted((self.clone / "deployment-logs").glob("*/deployment-*.json"))

    def stop(self):
        stop(self.proc, timeout=20)

    def lose(self) -> list[int]:
        """The machine is gone at once: SIGKILL to the worker and everything under it; their pids."""
        lost = [self.proc.pid, *descendants(self.proc.pid)]
        for pid in lost:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        return lost


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rindex(")") + 2 :].split()[1]), []).append(int(entry.name))
    found, waiting = [], list(children.get(pid, []))
    while waiting:
        child = waiting.pop()
        found.append(child)
        waiting.extend(children.get(child, []))
    return found
