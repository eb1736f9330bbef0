"""Peak RSS of one archive-sponsor flow run, per dump size, beside Prefect's own baseline.

Why: a nightly run over seven years of clinical data must not need more
memory as a sponsor's database grows. Each measurement is a fresh process
that runs one flow against a `prefect server start` started here and prints
its own peak RSS (ru_maxrss): a trivial one-task flow (Prefect's baseline),
the flow with archival disabled (our code at rest), then the archive of a
diary-shaped database per size, into an S3 server (moto_server, its own
process) on loopback. pg_dump and the servers are other processes and not
counted. The temporary disk the archive used is the growth of the temp
directory, sampled while it runs.

Usage: .venv/bin/python benchmarks/memory_flat.py [--sizes-mb 100 2000]
       (DATABASE_URL: an admin URL of the PostgreSQL server to use)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DB = "hht_bench_memory"
ROWS_PER_MB = 3600  # diary rows per MB of plain dump (pipeline_speed.py's shape: 2 M rows, 556 MB)


def child(mode: str) -> None:
    """Run one flow in this process and print its peak RSS in MiB."""
    from hht_archival.console import prepare_environment

    prepare_environment(debug=False)
    if mode == "prefect-baseline":
        from prefect import flow, task

        @task
        def nothing() -> int:
            return 1

        @flow
        def trivial() -> int:
            return nothing()

        trivial()
    else:
        from flows.archive_sponsor import archive_sponsor

        result = archive_sponsor(sponsor="bench", enabled=mode == "archive")
        assert result["status"] == ("archived" if mode == "archive" else "skipped"), result
    print(json.dumps({"rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure(mode: str, env: dict[str, str]) -> tuple[float, float, int]:
    """(peak RSS MiB, wall s, peak growth of the temp directory in bytes) of one child run."""
    tmp = Path(tempfile.gettempdir())
    base = _tree_size(tmp)
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            peak[0] = max(peak[0], _tree_size(tmp) - base)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode], env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    if done.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["rss_mib"], wall, peak[0]


def _tree_size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def main() -> None:
    from diary_database import build_database, drop_database, plain_dump_size

    from tests.support.prefectserver import PrefectServer
    from tests.support.s3server import MotoS3, aws_env

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request lines
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[100, 2000])
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="hht-bench-mem-"))
    try:
        with MotoS3() as s3, PrefectServer() as server:
            s3.make_buckets("hht-diary-backups-bench-eu-west-1", "hht-diary-audit-logs-bench-eu-west-1")
            env = {
                **os.environ,
                **aws_env(s3.endpoint),
                **server.env(),
                "ARCHIVAL_LOG_DIR": str(scratch),
                "SPONSOR": "bench",  # the sponsor DATABASE_URL belongs to: the one the flow archives
            }
            rows = []
            for mode in ("prefect-baseline", "disabled"):
                rss, wall, _ = measure(mode, env)
                rows.append((mode, "-", rss, wall, 0))
            for size_mb in args.sizes_mb:
                print(f"building a database of about {size_mb} MB of plain dump...", flush=True)
                url = build_database(size_mb * ROWS_PER_MB, DB)
                dump_mb = plain_dump_size(url) / 1e6
                rss, wall, disk = measure("archive", {**env, "DATABASE_URL": url})
                rows.append(("archive", f"{dump_mb:.0f} MB", rss, wall, disk))
                drop_database(DB)
        baseline = rows[0][2]
        print(
            f"\n{'run':18s} {'plain dump':>10s} {'peak RSS MiB':>13s} {'above Prefect':>14s} "
            f"{'wall s':>7s} {'temp disk MB':>13s}"
        )
        for mode, size, rss, wall, disk in rows:
            print(f"{mode:18s} {size:>10s} {rss:13.0f} {rss - baseline:14.0f} {wall:7.1f} {disk / 1e6:13.1f}")
        archives = [row[2] for row in rows if row[0] == "archive"]
        if len(archives) > 1:
            print(f"largest / smallest archive RSS: {max(archives) / min(archives):.3f}")
        print("wall includes the process start and Prefect's import; one flow per process.")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()
