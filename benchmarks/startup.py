"""Print an enabled `hht-archival run` on a new HOME, with no Prefect server, against `import prefect`.

What a CI runner does on every job: a HOME no Prefect has used, no
PREFECT_API_URL, so the command starts Prefect's own server on a new
database. Rounds alternate, each under a busy core (another process spinning
for the whole benchmark, as on a shared runner): `python -c "import prefect"`;
the enabled run on a fresh HOME as shipped (its database a copy of the one
Prefect migrated for this version, hht_archival/embedded_database.py); the same
with ARCHIVAL_PREFECT_DB_TEMPLATE=off (the server migrates from nothing, as
before); the same with ARCHIVAL_PREFECT_API_FORK=off (the server in a new
interpreter that imports Prefect again, as before; hht_archival/forked_server.py);
and the disabled run (no engine). With --baseline CHECKOUT, the enabled run as
shipped by another checkout of this repository (its own .venv, set up by its
bin/), in the same rounds: a change measured against what it replaced. A
1,000-row database, moto_server on loopback. Medians and their ratio to
`import prefect` are printed.

Usage: .venv/bin/python benchmarks/startup.py [--rounds 3] [--no-busy-core] [--baseline CHECKOUT]
       (DATABASE_URL: an admin URL of the PostgreSQL server to use, as diary_database.py reads it)
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diary_database import build_database, drop_database  # noqa: E402
from hht_archival_command import run_command  # noqa: E402

from tests.support.s3server import MotoS3, aws_env  # noqa: E402

logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request lines

DB = "hht_bench_startup_fresh"
VARIANTS = {
    "run --enable, fresh HOME (as shipped)": {},
    "run --enable, fresh HOME, migrating from nothing": {"ARCHIVAL_PREFECT_DB_TEMPLATE": "off"},
    "run --enable, fresh HOME, API in a new interpreter": {"ARCHIVAL_PREFECT_API_FORK": "off"},
    "run --disable, fresh HOME (no engine)": {},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-busy-core", action="store_true")
    parser.add_argument("--baseline", type=Path, help="another checkout, its enabled run timed beside")
    args = parser.parse_args()
    variants = dict(VARIANTS)
    if args.baseline:
        command = args.baseline.resolve() / ".venv" / "bin" / "hht-archival"
        if not command.exists():
            sys.exit(
                f"{command} does not exist; run {args.baseline / 'bin' / 'hht-archival'} --help there first."
            )
        variants[f"run --enable, fresh HOME, as {args.baseline.name} ships it"] = {"command": str(command)}
    spinner = None if args.no_busy_core else subprocess.Popen([sys.executable, "-c", "while True: pass"])
    db_url = build_database(1_000, DB)
    times: dict[str, list[float]] = {'python -c "import prefect"': [], **{name: [] for name in variants}}
    work = Path(tempfile.mkdtemp(prefix="hht-bench-startup-"))
    try:
        with MotoS3() as s3:
            s3.make_buckets("hht-diary-backups-bench-eu-west-1", "hht-diary-audit-logs-bench-eu-west-1")
            base = {
                **aws_env(s3.endpoint),
                "SPONSOR": "bench",
                "DATABASE_URL": db_url,
                "ARCHIVAL_LOG_DIR": str(work / "logs"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            }
            base = {k: v for k, v in base.items() if k != "PREFECT_API_URL"}
            for _ in range(args.rounds):
                started = time.perf_counter()
                subprocess.run([sys.executable, "-c", "import prefect"], check=True)
                times['python -c "import prefect"'].append(time.perf_counter() - started)
                for name, extra in variants.items():
                    extra = dict(extra)
                    command = extra.pop("command", None)
                    home = Path(tempfile.mkdtemp(prefix="home-", dir=work))
                    flag = ["--disable"] if "--disable" in name else ["--enable"]
                    env = {**base, **extra, "HOME": str(home), "PREFECT_HOME": str(home / ".prefect")}
                    times[name].append(run_command(flag, env, command)[0])
                    shutil.rmtree(home, ignore_errors=True)
    finally:
        if spinner:
            spinner.kill()
        drop_database(DB)
        shutil.rmtree(work, ignore_errors=True)
    floor = statistics.median(times['python -c "import prefect"'])
    state = "a busy core (another process spinning)" if spinner else "no added load"
    print(f"\nstart-up, no Prefect server, 1,000-row database, {args.rounds} rounds, {state}")
    print(f"  {'':52s} {'median s':>9s} {'x import':>9s}  all")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:52s} {median:9.2f} {median / floor:9.2f}  {', '.join(f'{v:.2f}' for v in values)}")


if __name__ == "__main__":
    main()
