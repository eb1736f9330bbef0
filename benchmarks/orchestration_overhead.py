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

Each night runs once per variant, alternating: as shipped ("warm": each run is
forked from the worker's warm-start server, hht_archival/warm_start/, from a
compiled clone kept per deployed commit, deployments/pull.py); without warm start
("kept": ARCHIVAL_WARM_START=off, each run a new Python process, as Prefect's own
worker starts it); and as before both ("per-run": every run also clones and
compiles from source: ARCHIVAL_CODE_CACHE=off and an empty PYTHONPYCACHEPREFIX).
Where each run's seconds go is read from its flow run's own log lines (picked
up, process start and `import prefect`, the pull step, loading the flow, the
flow itself), medians printed per night. The overhead
beyond a sponsor's own dump is its per-sponsor cost minus a bare `pg_dump` of
the same database. The curve is also drawn as an SVG under benchmarks/output/.

The server runs as a team runs it, `hht-archival server` on a PostgreSQL database
(docs/prefect-server.md), or on Prefect's SQLite default for comparison; each line
also counts the requests the server answered 503 during that night (from its
access log), which on SQLite means "database is locked".

Usage: .venv/bin/python benchmarks/orchestration_overhead.py [--counts 1 10 50] [--workers 1 2]
           [--server-database postgresql sqlite] [--variants warm kept per-run]
       (DATABASE_URL: an admin URL of the PostgreSQL server to use)
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.pgcluster import create_database, drop_database, seed_diary_database  # noqa: E402
from tests.support.prefectserver import PrefectServer, api_request  # noqa: E402
from tests.support.s3server import MotoS3, aws_env  # noqa: E402
from tests.support.teamrepo import clone, make_team_remote  # noqa: E402

ADMIN_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PREFECT = str(Path(sys.executable).with_name("prefect"))
COMMAND = str(Path(sys.executable).with_name("hht-archival"))
OUTPUT = ROOT / "benchmarks" / "output"
# How each variant's workers are started: "per-run" is how every run went before kept clones and
# compiled modules (an empty PYTHONPYCACHEPREFIX finds no compiled module, as on a machine where
# nothing may write them).
VARIANTS = {
    "warm": {},
    "kept": {"ARCHIVAL_WARM_START": "off"},
    "per-run": {"ARCHIVAL_WARM_START": "off", "ARCHIVAL_CODE_CACHE": "off", "PYTHONDONTWRITEBYTECODE": "1"},
}
# A run's own log lines that end each phase, in order (Prefect's worker and engine, then the flow's).
PHASES = [
    ("picked up", "submitting flow run"),
    ("start + import", "Running 1 deployment pull step"),
    ("pull step", "All deployment steps completed"),
    ("load flow", "for flow 'archive-sponsor'"),  # "Beginning subflow run ... for flow ..."
]


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


def _workers(
    team: Path, remote: str, count: int, env: dict[str, str], variant: str
) -> list[subprocess.Popen]:
    procs = []
    for _ in range(count):
        home = clone(remote, team / f"worker-{uuid.uuid4().hex[:6]}")
        extra = dict(VARIANTS[variant])
        if variant == "per-run":
            extra["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="hht-bench-no-bytecode-")
        procs.append(
            subprocess.Popen(
                [COMMAND, "worker", "--limit", "4", "--name", home.name],
                cwd=home,
                env={
                    **os.environ,
                    **env,
                    "PREFECT_WORKER_QUERY_SECONDS": "1",
                    "ARCHIVAL_LOG_DIR": "",
                    "ARCHIVAL_CODE_CACHE": str(team / "code-cache"),  # one machine: its workers share it
                    **extra,
                },
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return procs


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait()


def _phases(server: PrefectServer, since: str) -> dict[str, float]:
    """Median seconds of each phase of the sponsor runs that started after ``since``, from their logs."""
    query = {
        "flow_runs": {"start_time": {"after_": since}},
        "deployments": {"name": {"any_": ["sponsor-run"]}},
    }
    runs = api_request("POST", f"{server.api_url}/flow_runs/filter", json=query).json()
    spans: dict[str, list[float]] = {name: [] for name, _ in PHASES}
    spans["the flow"] = []
    for run in runs:
        logs = _logs(server, run["id"])
        mark = _seconds(run["expected_start_time"])
        for name, line in PHASES:
            at = next((_seconds(log["timestamp"]) for log in logs if line in log["message"]), None)
            if at is None:
                break
            spans[name].append(at - mark)
            mark = at
        else:
            spans["the flow"].append(_seconds(run["end_time"]) - mark)
    return {name: statistics.median(values) for name, values in spans.items() if values}


def _logs(server: PrefectServer, flow_run_id: str) -> list[dict]:
    query = {"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "sort": "TIMESTAMP_ASC", "limit": 200}
    return api_request("POST", f"{server.api_url}/logs/filter", json=query).json()


def _seconds(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def _now() -> str:
    return datetime.now().astimezone().isoformat()


def _bare_pg_dump(db_url: str) -> float:
    """Median of three `pg_dump > /dev/null` of the sponsors' database: a sponsor's own dump."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(["pg_dump", "--dbname", db_url], stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


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
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=["warm", "kept"])
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
        dump = _bare_pg_dump(db_url)
        print(f"a sponsor's own dump (bare pg_dump of its database, median of 3): {dump:.2f} s")
        with MotoS3() as s3:  # one: moto keeps its buckets per process, whatever the server
            os.environ.update(aws_env(s3.endpoint))
            for name in names:
                s3.make_buckets(
                    f"hht-diary-backups-{name}-eu-west-1", f"hht-diary-audit-logs-{name}-eu-west-1"
                )
            for backend in args.server_database:
                print(f"\nPrefect server on {backend}")
                _measure(args, backend, s3, names, db_url, team, remote, dump)
    finally:
        drop_database(ADMIN_URL, db_name)


def _measure(args, backend: str, s3, names, db_url: str, team: Path, remote: str, dump: float) -> None:
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
        phase_names = [name for name, _ in PHASES] + ["the flow"]
        print(
            f"{'workers':>7} {'sponsors':>8} {'runs':>8} {'wall s':>7} {'s/sponsor':>9} {'503s':>4}   "
            "median s per run: " + ", ".join(phase_names)
        )
        results: dict[tuple[int, str, int], float] = {}
        for workers in args.workers:
            for count in args.counts:
                for variant in args.variants:  # alternating, so both see the machine in the same state
                    procs = _workers(team, remote, workers, {**env, **server.env()}, variant)
                    try:
                        _nightly(server.env(), names[:1], deployer)  # each worker's first run: not measured
                        refused, since = server.responses(503), _now()
                        wall = _nightly(server.env(), names[:count], deployer)
                        refused = server.responses(503) - refused
                        phases = _phases(server, since)
                    finally:
                        _stop(procs)
                    results[(workers, variant, count)] = wall
                    spans = ", ".join(f"{phases.get(name, float('nan')):.2f}" for name in phase_names)
                    print(
                        f"{workers:>7} {count:>8} {variant:>8} {wall:>7.1f} {wall / count:>9.2f} "
                        f"{refused:>4}   {spans}",
                        flush=True,
                    )
        _summary(args, results, dump)
        _plot(args, results, backend)
        _database_size(server)
        times = _warm_up(server.env(), db_url, team / "warm-up-logs")
        print(f"\none process, three one-sponsor archives in a row: {times} s (the first pays the warm-up)")
        print("2-core machine; workers, moto and the Prefect server share the CPU with the runs.")


def _database_size(server: PrefectServer) -> None:
    """The server's PostgreSQL database after these nights: what a year of them would weigh."""
    if not server.database:
        return
    import psycopg

    with psycopg.connect(ADMIN_URL) as conn:
        size = conn.execute("SELECT pg_database_size(%s)", (server.database,)).fetchone()[0]
        empty = conn.execute(  # the migrated template it was copied from
            "SELECT pg_database_size(datname) FROM pg_database WHERE datname LIKE 'hht_prefect_template_%'"
        ).fetchone()[0]
    runs = api_request("POST", f"{server.api_url}/flow_runs/count", json={}).json()
    grown = size - empty
    print(
        f"the server's database: {size / 2**20:.1f} MiB, {grown / 2**20:.1f} MiB more than when migrated, "
        f"after {runs} flow runs ({grown / runs / 1024:.0f} KiB each)"
    )


def _summary(args, results: dict[tuple[int, str, int], float], dump: float) -> None:
    low, high = min(args.counts), max(args.counts)
    if low == high:
        return
    for workers in args.workers:
        for variant in args.variants:
            added = (results[(workers, variant, high)] - results[(workers, variant, low)]) / (high - low)
            print(
                f"{workers} worker(s), {variant}: each sponsor past {low} adds {added:.2f} s of wall time, "
                f"{added - dump:.2f} s beyond its own dump"
            )


def _plot(args, results: dict[tuple[int, str, int], float], backend: str) -> None:
    """The nightly's wall time against sponsors, a line per (workers, variant), as a small SVG."""
    width, height, pad = 640, 400, 50
    top_x, top_y = max(args.counts), max(results.values())
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
    lines, legend = [], []
    for i, (workers, variant) in enumerate((w, v) for w in args.workers for v in args.variants):
        points = " ".join(
            f"{pad + (width - 2 * pad) * count / top_x:.1f},"
            f"{height - pad - (height - 2 * pad) * results[(workers, variant, count)] / top_y:.1f}"
            for count in args.counts
        )
        colour = colours[i % len(colours)]
        lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        legend.append(
            f'<text x="{pad + 10}" y="{pad + 16 * i}" fill="{colour}" font-size="12">'
            f"{workers} worker(s), {variant}</text>"
        )
    axes = (
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="black"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="black"/>'
        f'<text x="{width / 2}" y="{height - 12}" font-size="12" text-anchor="middle">sponsors '
        f"(0 to {top_x})</text>"
        f'<text x="12" y="{pad - 12}" font-size="12">nightly wall s (0 to {top_y:.0f}), '
        f"server on {backend}</text>"
    )
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / f"orchestration_overhead_{backend}.svg"
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
        f"{axes}{''.join(lines)}{''.join(legend)}</svg>\n"
    )
    print(f"the curve: {path}")


if __name__ == "__main__":
    main()
