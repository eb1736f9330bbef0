"""The benchmarks' way of running `hht-archival run` as a user does: the installed command, its own process.

Why a module: the speed benchmark times the archive through the command and
the command's start-up, and both must run it the same way (the console
script, the environment given plus this process's, the JSON log read back).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMAND = str(Path(sys.executable).with_name("hht-archival"))


def run_command(args: list[str], env: dict[str, str], command: str | None = None) -> tuple[float, dict]:
    """Run `hht-archival run ARGS` (this checkout's, or ``command``); return its wall time and JSON log.

    The log is the newest in the log directory.
    """
    environment = {**os.environ, **env}
    started = time.perf_counter()
    done = subprocess.run(
        [command or COMMAND, "run", *args], env=environment, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"hht-archival run {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    own = Path(environment["ARCHIVAL_LOG_DIR"]) / environment["SPONSOR"]  # each sponsor's logs apart
    logs = sorted(own.glob("deployment-*.json"), key=os.path.getmtime)
    return seconds, json.loads(logs[-1].read_text())


class StartupTimer:
    """The command's wall time with no Prefect server configured, against importing Prefect.

    Rows: ``python -c "import prefect"``; the disabled run (no engine); the
    enabled run on a fresh HOME (a CI runner: the embedded API migrates a new
    database) and on a HOME used before (its database already migrated).
    """

    def __init__(self, env: dict[str, str], work: Path) -> None:
        self.env = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
        self.used_home = Path(tempfile.mkdtemp(prefix="hht-bench-home-", dir=work))
        self.times: dict[str, list[float]] = {
            'python -c "import prefect"': [],
            "run --disable (no engine)": [],
            "run --enable, fresh HOME": [],
            "run --enable, HOME used before": [],
        }
        run_command(["--disable"], {**self.env, **self._home(self.used_home)})  # creates nothing: no engine
        run_command(["--enable"], {**self.env, **self._home(self.used_home)})  # migrates this HOME once

    @staticmethod
    def _home(home: Path) -> dict[str, str]:
        return {"HOME": str(home), "PREFECT_HOME": str(home / ".prefect")}

    def round(self) -> None:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import prefect"], check=True)
        self.times['python -c "import prefect"'].append(time.perf_counter() - started)
        fresh = Path(tempfile.mkdtemp(prefix="hht-bench-home-"))
        try:
            self.times["run --disable (no engine)"].append(
                run_command(["--disable"], {**self.env, **self._home(fresh)})[0]
            )
            self.times["run --enable, fresh HOME"].append(
                run_command(["--enable"], {**self.env, **self._home(fresh)})[0]
            )
        finally:
            shutil.rmtree(fresh, ignore_errors=True)
        used = {**self.env, **self._home(self.used_home)}
        self.times["run --enable, HOME used before"].append(run_command(["--enable"], used)[0])

    def report(self) -> None:
        floor = statistics.median(self.times['python -c "import prefect"'])
        print(
            f"\nstart-up, no Prefect server configured, 1,000-row database {'median s':>9s} {'x import':>9s}"
        )
        for name, values in self.times.items():
            print(f"  {name:54s} {statistics.median(values):9.2f} {statistics.median(values) / floor:9.2f}")
