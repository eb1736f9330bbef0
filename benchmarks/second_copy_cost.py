"""What a second copy costs through the command: `hht-archival run --enable` with one copy and with two.

Why through the command: that is what a user pays (Prefect's start-up, the
lock, tag, roles, the logs: all of it twice where there are two copies).
Both runs alternate, ROUNDS times each, against a running `prefect server
start` and two S3 servers on loopback (two moto_server processes, one per
destination, the second behind the test suite's fault proxy); medians and
their ratio are printed (the issue's target: two copies at most 1.15x one).

Then the back-pressure policy (hht_archival/adapters/tee.py) under a
throttled second destination: every UploadPart to it is held
--throttle-seconds; the run should end archived, degraded (the second copy
dropped) and the first copy should cost no more than the budget allows
(ARCHIVAL_SECOND_COPY_GRACE_SECONDS, here --grace, plus 15% of the stream).

Usage: .venv/bin/python benchmarks/second_copy_cost.py [--rows 1000000] [--rounds 3]
           [--throttle-seconds 3] [--grace 2]
       (DATABASE_URL: an admin URL of the PostgreSQL server to use)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diary_database import build_database, drop_database, plain_dump_size  # noqa: E402
from hht_archival_command import run_command  # noqa: E402

DB = "hht_bench_copies"
FIRST = ("hht-bench-backups", "hht-bench-audit-logs")
SECOND = ("hht-bench-backups-dr", "hht-bench-audit-logs-dr")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _moto() -> tuple[subprocess.Popen, str]:
    port = _free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, f"http://127.0.0.1:{port}"


def _buckets(endpoint: str, names: tuple[str, str]) -> None:
    keys = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}  # moto takes any: not a secret
    client = boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-1", **keys)
    for _ in range(50):  # the server may still be starting
        try:
            client.list_buckets()
            break
        except Exception:
            time.sleep(0.2)
    for bucket in names:
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--throttle-seconds", type=float, default=3.0)
    parser.add_argument("--grace", type=float, default=2.0)
    args = parser.parse_args()

    from tests.support.faultproxy import FaultyS3Proxy, is_upload_part
    from tests.support.prefectserver import PrefectServer

    (first, first_url), (second, second_url) = _moto(), _moto()
    work = Path(tempfile.mkdtemp(prefix="hht-bench-copies-"))
    try:
        print(f"building {args.rows:,d} diary rows...", flush=True)
        url = build_database(args.rows, DB)
        print(f"plain dump: {plain_size_mb(url):.0f} MB", flush=True)
        _buckets(first_url, FIRST)
        _buckets(second_url, SECOND)
        one = {
            "SPONSOR": "bench",
            "DATABASE_URL": url,
            "SPONSOR_BACKUPS_BUCKET": FIRST[0],
            "SPONSOR_AUDIT_LOGS_BUCKET": FIRST[1],
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_ENDPOINT_URL": first_url,
            "ARCHIVAL_LOG_DIR": str(work / "logs"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        with FaultyS3Proxy(second_url) as proxy, PrefectServer() as server:
            two = {
                **one,
                "ARCHIVAL_COPY2_NAME": "dr",
                "ARCHIVAL_COPY2_ENDPOINT_URL": proxy.endpoint,
                "ARCHIVAL_COPY2_BACKUPS_BUCKET": SECOND[0],
                "ARCHIVAL_COPY2_AUDIT_LOGS_BUCKET": SECOND[1],
                "ARCHIVAL_COPY2_AWS_ACCESS_KEY_ID": "bench2",
                "ARCHIVAL_COPY2_AWS_SECRET_ACCESS_KEY": "bench2",
            }
            one, two = {**one, **server.env()}, {**two, **server.env()}
            run_command(["--disable"], one)  # the server's first run registers the flow: not measured
            times: dict[str, list[float]] = {"one copy": [], "two copies": []}
            waited: list[float] = []
            steps: dict[str, dict[str, list[float]]] = {"one copy": {}, "two copies": {}}
            cpu: dict[str, list[tuple[float, float]]] = {"one copy": [], "two copies": []}
            servers = (first.pid, second.pid)
            for round_ in range(args.rounds):
                with _cpu(cpu["one copy"], servers):
                    seconds, record = run_command(["--enable"], one)
                times["one copy"].append(seconds)
                _steps(steps["one copy"], record)
                with _cpu(cpu["two copies"], servers):
                    seconds, record = run_command(["--enable"], two)
                _steps(steps["two copies"], record)
                if (record.get("second_copy") or {}).get("status") != "archived":
                    raise RuntimeError(f"the second copy did not land: {record.get('degraded')}")
                times["two copies"].append(seconds)
                waited.append(record["second_copy"]["waited_seconds"])
                print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()))
            proxy.delay(is_upload_part, args.throttle_seconds, times=None)
            throttled, record = run_command(
                ["--enable"], {**two, "ARCHIVAL_SECOND_COPY_GRACE_SECONDS": str(args.grace)}
            )
            proxy.clear()
        base, both = statistics.median(times["one copy"]), statistics.median(times["two copies"])
        print(f"\ntwo copies / one copy: {both / base:.3f} (medians of {args.rounds}, alternating)")
        print(f"\n{'hht-archival run --enable':44s} {'median s':>9s} {'x one copy':>11s}")
        for name, values in times.items():
            print(f"{name:44s} {statistics.median(values):9.2f} {statistics.median(values) / base:11.2f}")
        print(f"{'  waited for the second copy alone (median)':44s} {statistics.median(waited):9.2f}")
        for name, used in cpu.items():
            ours, servers_cpu = (statistics.median(u[i] for u in used) for i in (0, 1))
            print(
                f"  CPU of {name} (median s): the command and pg_dump {ours:.2f}, "
                f"the S3 servers {servers_cpu:.2f}"
            )
        for name, by_step in steps.items():
            shown = ", ".join(f"{step} {statistics.median(v):.2f}" for step, v in by_step.items())
            print(f"  steps of {name} (median s, from the JSON log): {shown}")
        second_copy = record.get("second_copy") or {}
        print(
            f"\nsecond destination throttled ({args.throttle_seconds:g} s per UploadPart, grace "
            f"{args.grace:g} s): {throttled:.2f} s ({throttled / base:.2f}x one copy); second copy "
            f"{second_copy.get('status')}, waited {second_copy.get('waited_seconds')} s; "
            f"degraded: {record.get('degraded')}"
        )
        print("2-core machine; each moto_server takes CPU of its own during uploads (two of them here).")
    finally:
        for process in (first, second):
            process.terminate()
        shutil.rmtree(work, ignore_errors=True)
        drop_database(DB)


@contextlib.contextmanager
def _cpu(into: list[tuple[float, float]], servers: tuple[int, ...]):
    """CPU seconds of the command (with pg_dump: waited-for children) and of the S3 server processes."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = sum(_process_cpu(pid) for pid in servers)
    yield
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    into.append((command, sum(_process_cpu(pid) for pid in servers) - before))


def _process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _steps(into: dict[str, list[float]], record: dict) -> None:
    for step in record.get("steps") or []:
        into.setdefault(step["step"], []).append(step["seconds"])


def plain_size_mb(url: str) -> float:
    return plain_dump_size(url) / 1e6


if __name__ == "__main__":
    main()
