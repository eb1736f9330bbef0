"""Print how long building Prefect's server application takes, garbage collector as usual and held back.

A stage alone, labelled so: what the embedded API's forked server does
before it serves (hht_archival/server_application.py), each round in a new
process that has imported Prefect, on a HOME no Prefect has used. "held back"
is what the fork does (hht_archival/import_gc.py). Rounds alternate; medians
are printed. The run a user times is benchmarks/startup.py's.

Usage: .venv/bin/python benchmarks/server_build.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hht_archival.engine import server_settings  # noqa: E402 (the embedded API's own settings)

_BUILD = """
import sys, time
import prefect
if sys.argv[1] == "held back":
    from hht_archival import import_gc
    import_gc.hold_back()
started = time.perf_counter()
from hht_archival.server_application import build_application
build_application()
print(time.perf_counter() - started)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"as usual": [], "held back": []}
    for _ in range(args.rounds):
        for way, seconds in times.items():
            with tempfile.TemporaryDirectory() as home:
                env = {**os.environ, **server_settings(), "HOME": home, "PREFECT_HOME": f"{home}/.prefect"}
                done = subprocess.run(
                    [sys.executable, "-c", _BUILD, way], env=env, capture_output=True, text=True, check=True
                )
                seconds.append(float(done.stdout))
    print(f"\nbuilding Prefect's server application (a stage alone), {args.rounds} alternating rounds")
    for way, seconds in times.items():
        rounds = ", ".join(f"{s:.2f}" for s in seconds)
        print(f"  garbage collector {way:9s}  median {statistics.median(seconds):.2f} s  ({rounds})")


if __name__ == "__main__":
    main()
