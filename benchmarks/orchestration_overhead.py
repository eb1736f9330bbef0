"""Print the nightly's wall time and per-sponsor cost for 1, 10 and 50 sponsors, on one worker and on two.

What a platform team runs: a real `prefect server start`, `prefect deploy --all`
from a clone of the team's remote (a bare repository made from this working
tree), `hht-archival worker` processes in other clones, and
`prefect deployment run archive-all-sponsors/nightly --watch`. Every sponsor is
enabled and dumps the same small seeded database into an S3 server (moto) on
loopback; at most 4 sponsor runs at once across all workers (prefect.yaml).
The per-sponsor cost is the wall time between N and 50 sponsors divided by the
sponsors added: what one more sponsor costs the night once the pool is full.
A second table times the first flow run of a fresh process against the next
ones (the "warm-up" seen before), in process, against the same server.

The server runs as a team runs it, `hht-archival server` on a PostgreSQL database
(docs/prefect-server.md), or on Prefect's SQLite default for comparison; each line
also counts the requests the server answered 503 during that night (from its
access log), which on SQLite means "database is locked".

Usage: .venv/bin/python benchmarks/orchestration_overhead.py [--counts 1 10 50] [--workers 1 2]
           [--server-database postgresql sqlite]
       (DATABASE_URL: an admin URL of the PostgreSQL server to use)
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.pgcluster import create_database, drop_database, seed_diary_database  # noqa: E402
from tests.support.prefectserver import PrefectServer  # noqa: E402
from tests.support.s3server import MotoS3, aws_env  # noqa: E402
from tests.support.teamrepo import clone, make_team_remote  # noqa: E402

ADMIN_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PREFECT = str(Path(sys.executable).with_name("prefect"))
COMMAND = str(Path(sys.executable).with_name("hht-archival"))


def _names(count: int) -> list[str]:
    return [f"bench-{i}" for i in range(count)]


def _sponsor_env(names: list[str], db_url: str) -> dict[str, str]:
    env = {}
    for name in names:
        prefix = name.upper().replace("-", "_") + "_"
        env.update(
            {
                prefix + "ENABLE_S3_BACKUP_ARCHIVAL": "true",
                prefix + "DATABASE_URL": db_url,
                prefix + "AWS_ACCESS_KEY_ID": "bench",
                prefix + "AWS_SECRET_ACCESS_KEY": "bench",
            }
        )
    return env


def _nightly(server_env: dict[str, str], names: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [PREFECT, "--no-prompt", "deployment", "run", "archive-all-sponsors/nightly", "--watch"]
        + ["-p", f"sponsors={names!r}".replace("'", '"')],
        cwd=cwd,
        env={**os.environ, **server_env},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the nightly failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - started


def _workers(team: Path, remote: str, count: int, env: dict[str, str]) -> list[subprocess.Popen]:
    procs = []
    for _ in range(count):
        home = clone(remote, team / f"worker-{uuid.uuid4().hex[:6]}")
        procs.append(
            subprocess.Popen(
                [COMMAND, "worker", "--limit", "4", "--name", home.name],
                cwd=home,
                env={**os.environ, **env, "PREFECT_WORKER_QUERY_SECONDS": "1", "ARCHIVAL_LOG_DIR": ""},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return procs


def _warm_up(server_env: dict[str, str], db_url: str, work: Path) -> list[float]:
    """Wall time of three one-sponsor archives in one fresh process: the first pays the warm-up."""
    script = (
        "import sys, time\n"
        "from flows.archive_sponsor import archive_sponsor\n"
        "for _ in range(3):\n"
        "    t = time.perf_counter(); archive_sponsor(sponsor='bench-0', enabled=True)\n"
        "    print(round(time.perf_counter() - t, 2))\n"
    )
    env = {**os.environ, **server_env, **_sponsor_env(["bench-0"], db_url), "ARCHIVAL_LOG_DIR": str(work)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return [float(line) for line in done.stdout.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--server-database", nargs="+", choices=["postgresql", "sqlite"], default=["postgresql"]
    )
    args = parser.parse_args()
    names = _names(max(args.counts))
    db_name = f"hht_bench_{uuid.uuid4().hex[:8]}"
    db_url = create_database(ADMIN_URL, db_name)
    seed_diary_database(db_url)
    team = Path(tempfile.mkdtemp(prefix="hht-bench-team-"))
    manifest = "sponsors:\n" + "".join(f"  - name: {n}\n" for n in names)
    remote = make_team_remote(ROOT, team, {"sponsors.yaml": manifest})
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    try:
        with MotoS3() as s3:  # one: moto keeps its buckets per process, whatever the server
            os.environ.update(aws_env(s3.endpoint))
            for name in names:
                s3.make_buckets(
                    f"hht-diary-backups-{name}-eu-west-1", f"hht-diary-audit-logs-{name}-eu-west-1"
                )
            for backend in args.server_database:
                print(f"\nPrefect server on {backend}")
                _measure(args, backend, s3, names, db_url, team, remote)
    finally:
        drop_database(ADMIN_URL, db_name)


def _measure(args, backend: str, s3, names: list[str], db_url: str, team: Path, remote: str) -> None:
    postgres = ADMIN_URL if backend == "postgresql" else None
    with PrefectServer(postgres_admin_url=postgres, access_log=True) as server:
        env = {**aws_env(s3.endpoint), **_sponsor_env(names, db_url)}
        deployer = clone(remote, team / f"laptop-{backend}")
        for command in (
            ["work-pool", "create", "hht-archival", "--type", "process"],
            ["deploy", "--all"],
        ):
            subprocess.run(
                [PREFECT, "--no-prompt", *command],
                cwd=deployer,
                env={**os.environ, **server.env()},
                capture_output=True,
                check=True,
            )
        print(f"{'workers':>7} {'sponsors':>8} {'wall s':>8} {'s/sponsor':>10} {'503s':>5}")
        results: dict[tuple[int, int], float] = {}
        for workers in args.workers:
            procs = _workers(team, remote, workers, {**env, **server.env()})
            try:
                _nightly(server.env(), names[:1], deployer)  # each worker's first run: not measured
                for count in args.counts:
                    refused = server.responses(503)
                    wall = _nightly(server.env(), names[:count], deployer)
                    results[(workers, count)] = wall
                    refused = server.responses(503) - refused
                    print(
                        f"{workers:>7} {count:>8} {wall:>8.1f} {wall / count:>10.2f} {refused:>5}", flush=True
                    )
            finally:
                for proc in procs:
                    proc.terminate()
                    proc.wait()
        low, high = min(args.counts), max(args.counts)
        for workers in args.workers:
            added = (results[(workers, high)] - results[(workers, low)]) / (high - low)
            print(f"{workers} worker(s): each sponsor past {low} adds {added:.2f} s of wall time")
        if len(args.workers) > 1:
            one, two = args.workers[0], args.workers[-1]
            print(
                f"{high} sponsors: {results[(one, high)]:.1f} s on {one} worker(s), "
                f"{results[(two, high)]:.1f} s on {two}"
            )
        times = _warm_up(server.env(), db_url, team / "warm-up-logs")
        print(f"\none process, three one-sponsor archives in a row: {times} s (the first pays the warm-up)")
        print("2-core machine; workers, moto and the Prefect server share the CPU with the runs.")


if __name__ == "__main__":
    main()
