"""Time one sponsor's archive against bare pg_dump and the seed's step: through the command, and stages alone.

Why: pg_dump is the floor; the question is how close the archive sits to it
and how far it is ahead of the seed's `pg_dump > file; gzip; aws s3 cp`. What
a user pays is the command: `hht-archival run --enable` minus the same command
with `--disable` (both against a running `prefect server start`, so Prefect's
start-up is in both and cancels out). Beside it, labelled, the stages alone:
the flow's dump | compress | upload functions on plain threads, no Prefect.
All are run alternately, ROUNDS times each, on the same database, against an
S3 server (moto_server, its own process) on loopback; medians are printed
with their ratio to bare pg_dump, the bytes the stream held and the temporary
disk. Where the CPU went is printed too (benchmarks/cpu_usage.py: the command
and pg_dump, PostgreSQL's backends, moto_server and the Prefect server, from
/proc; and the stream's own stages from its JSON log), beside the command run
with ARCHIVAL_RECORD_ROW_COUNTS=false (what counting the rows in the dump's
snapshot costs). A second table times the command's start-up with no Prefect server
configured (a fresh HOME, as on a CI runner, and a used one) against
`python -c "import prefect"`, on a 1,000-row database. The flow's memory per
dump size is measured by memory_flat.py, the all-sponsors flow's per-sponsor
cost by orchestration_overhead.py.

A third labelled row streams dump | compress into a sink that discards, no
S3 server at all: what the archive costs here before the S3 server's CPU.

Usage: .venv/bin/python benchmarks/pipeline_speed.py [--rows 2000000] [--rounds 3] [--formats sql.gz]
                                                     [--busy-core]
       (DATABASE_URL: an admin URL of the PostgreSQL server to use)
"""

from __future__ import annotations

import argparse
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
from boto3.s3.transfer import TransferConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cpu_usage import CpuMeter  # noqa: E402
from diary_database import build_database, drop_database, plain_dump_size  # noqa: E402
from hht_archival_command import StartupTimer, run_command  # noqa: E402

from hht_archival.adapters import s3  # noqa: E402
from hht_archival.adapters.codecs import FORMATS, compress_stream  # noqa: E402
from hht_archival.adapters.pg_dump import stream_dump  # noqa: E402
from hht_archival.adapters.pipe import keep_memory_flat, stream_through  # noqa: E402
from tasks.stream import PIPE_CAPACITY  # noqa: E402

DB = "hht_bench_speed"
SMALL_DB = "hht_bench_startup"
BUCKET = "hht-bench-backups"
AUDIT_BUCKET = "hht-bench-audit-logs"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bare_pg_dump(url: str) -> float:
    started = time.perf_counter()
    subprocess.run(["pg_dump", f"--dbname={url}"], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def seed_pipeline(url: str, work: Path, client, peak_disk: list[int]) -> float:
    """The seed's step: pg_dump > file; gzip (level 6); upload (aws s3 cp uses s3transfer, as here)."""
    dump = work / "backup.sql"
    started = time.perf_counter()
    with dump.open("wb") as out:
        subprocess.run(["pg_dump", f"--dbname={url}"], stdout=out, check=True)
    peak_disk.append(dump.stat().st_size)  # gzip then holds both for a while: at least this much
    subprocess.run(["gzip", "-6", "-f", str(dump)], check=True)
    client.upload_file(str(dump) + ".gz", BUCKET, "seed/backup.sql.gz", Config=TransferConfig())
    seconds = time.perf_counter() - started
    Path(str(dump) + ".gz").unlink()
    return seconds


def ours(url: str, client, fmt: str, sizes: dict[str, int], peaks: list[int]) -> float:
    """dump (with row counts) | compress (SHA-256 in the same pass) | upload (SSE, checksums), then tag.

    The same stages the flow runs as tasks, here on plain threads: nothing is written to disk.
    """
    key = f"ours/backup.{FORMATS[fmt].extension}"
    started = time.perf_counter()
    done, pipes_peak = _stages(
        url, fmt, lambda packed: s3.upload_stream(client, packed, BUCKET, key, sponsor="bench", metadata={})
    )
    s3.put_tags(client, BUCKET, key, {"sha256": done["compress"].sha256}, "bench")
    seconds = time.perf_counter() - started
    sizes[fmt] = done["compress"].size
    peaks.append(pipes_peak + done["upload"].peak_buffered)
    return seconds


def ours_without_s3(url: str, fmt: str) -> float:
    """dump | compress as above, into a sink that discards what it reads: the stream before any S3 server.

    Why: on a 2-core machine the S3 server (moto, in Python: an MD5 of every
    part for its ETag, then the object assembled at the end) takes CPU from the
    same cores as pg_dump. This row shows what the archive costs without it;
    no user runs it.
    """
    started = time.perf_counter()
    _stages(url, fmt, lambda packed: sum(len(chunk) for chunk in packed))
    return time.perf_counter() - started


def _stages(url: str, fmt: str, consume) -> tuple[dict[str, object], int]:
    """The flow's dump | compress on plain threads, into ``consume``."""
    backup_format = FORMATS[fmt]
    keep_memory_flat()  # as the flow's stream task does
    return stream_through(
        lambda raw: stream_dump(url, raw, "bench", custom_format=backup_format.pg_dump_format == "custom"),
        lambda raw, packed: compress_stream(raw, backup_format, packed),
        consume,
        PIPE_CAPACITY,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=list(FORMATS))
    parser.add_argument(
        "--busy-core", action="store_true", help="another process spins for the whole run (a loaded machine)"
    )
    args = parser.parse_args()
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy_core else None
    try:
        _measure(args)
    finally:
        if spinner:
            spinner.kill()


def _measure(args) -> None:

    from tests.support.prefectserver import PrefectServer

    port = _free_port()
    moto = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    work = Path(tempfile.mkdtemp(prefix="hht-bench-"))
    try:
        print(f"building {args.rows:,d} diary rows...", flush=True)
        url = build_database(args.rows, DB)
        small_url = build_database(1000, SMALL_DB)
        plain_size = plain_dump_size(url)
        print(f"plain dump: {plain_size / 1e6:.0f} MB", flush=True)
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            }
        )
        time.sleep(2)
        client = boto3.client("s3", region_name="eu-west-1")
        for bucket in (BUCKET, AUDIT_BUCKET):
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        ours_client = s3.make_client("eu-west-1")
        command_env = {
            "SPONSOR": "bench",
            "SPONSOR_BACKUPS_BUCKET": BUCKET,
            "SPONSOR_AUDIT_LOGS_BUCKET": AUDIT_BUCKET,
            "ARCHIVAL_LOG_DIR": str(work / "logs"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        times: dict[str, list[float]] = {"bare pg_dump > /dev/null": [], "seed pipeline": []}
        times.update({f"stages only {fmt}": [] for fmt in args.formats})
        sinkless = f"stages only {args.formats[0]}, no S3 (discarded)"
        times[sinkless] = []
        times.update({"command --enable": [], "command --enable, no row counts": [], "command --disable": []})
        streams: list[float] = []
        sizes: dict[str, int] = {}
        peak_disk: list[int] = []
        peaks: list[int] = []
        stages_cpu = f"stages only {args.formats[0]} (their threads, in this process, not counted)"
        cpu: dict[str, list[dict[str, float]]] = {"bare pg_dump": [], stages_cpu: [], "command --enable": []}
        stream_cpu: list[str] = []
        with PrefectServer() as server:
            env = {**command_env, **server.env(), "DATABASE_URL": url}
            meter = CpuMeter(url, {"moto_server": moto.pid, "Prefect server": server._proc.pid})
            run_command(["--disable"], env)  # the server's first run registers the flow: not measured
            for round_ in range(args.rounds):
                seconds, used = meter.measure(lambda: bare_pg_dump(url))
                times["bare pg_dump > /dev/null"].append(seconds)
                cpu["bare pg_dump"].append(used)
                times["seed pipeline"].append(seed_pipeline(url, work, client, peak_disk))
                for fmt in args.formats:
                    seconds, used = meter.measure(lambda fmt=fmt: ours(url, ours_client, fmt, sizes, peaks))
                    times[f"stages only {fmt}"].append(seconds)
                    if fmt == args.formats[0]:
                        cpu[stages_cpu].append(used)
                times[sinkless].append(ours_without_s3(url, args.formats[0]))
                (seconds, record), used = meter.measure(lambda: run_command(["--enable"], env))
                times["command --enable"].append(seconds)
                cpu["command --enable"].append(used)
                stream = next(step for step in record["steps"] if step["step"] == "stream")
                streams.append(stream["seconds"])
                stream_cpu.append(stream["detail"].split("CPU s: ")[-1])
                uncounted = {**env, "ARCHIVAL_RECORD_ROW_COUNTS": "false"}  # what the snapshot's count costs
                times["command --enable, no row counts"].append(run_command(["--enable"], uncounted)[0])
                times["command --disable"].append(run_command(["--disable"], env)[0])
                print(
                    f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()),
                    flush=True,
                )
        startup = StartupTimer({**command_env, "DATABASE_URL": small_url}, work)
        for _ in range(args.rounds):
            startup.round()

        floor = statistics.median(times["bare pg_dump > /dev/null"])
        print(
            "compression ratio (plain dump size / archived object size): "
            + ", ".join(f"{fmt} {plain_size / size:.2f}" for fmt, size in sizes.items())
        )
        archive = statistics.median(times["command --enable"]) - statistics.median(times["command --disable"])
        print(f"\n{'':52s} {'median s':>9s} {'x pg_dump':>10s}")
        for name, values in times.items():
            print(f"{name:52s} {statistics.median(values):9.2f} {statistics.median(values) / floor:10.2f}")
        label = "the archive through the command (enable - disable)"
        print(f"{label:52s} {archive:9.2f} {archive / floor:10.2f}")
        print(f"{'  of which the JSON log step stream':52s} {statistics.median(streams):9.2f}")
        seed = statistics.median(times["seed pipeline"])
        best = min(statistics.median(times[f"stages only {fmt}"]) for fmt in args.formats)  # with S3
        print(f"seed pipeline / the archive through the command: {seed / archive:.1f}x")
        print(f"seed pipeline / fastest stages-only format: {seed / best:.1f}x")
        print("\nwhere the CPU went (median CPU-seconds while it ran, from /proc; 2 cores = 2 s per second)")
        for name, rounds in cpu.items():
            medians = {part: statistics.median(r[part] for r in rounds) for part in rounds[0]}
            parts = ", ".join(f"{part} {seconds:.2f}" for part, seconds in medians.items())
            print(f"  {name}: {parts}")
        print(f"  the command's stream, from its JSON log (CPU s per round): {'; '.join(stream_cpu)}")
        startup.report()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"\npeak RSS of this process (seed's s3transfer included): {rss:.0f} MiB; most bytes held by "
            f"our stream: {max(peaks) / 2**20:.1f} MiB; temporary disk: ours 0 (streamed, no file), "
            f"the seed's at least {max(peak_disk) / 1e6:.0f} MB (benchmarks/memory_flat.py: RSS per size)"
        )
        load = "one core kept busy by another process" if args.busy_core else "no added load"
        print(
            f"{os.cpu_count()}-core machine, {load}; moto_server on loopback takes CPU of its own "
            "during uploads."
        )
    finally:
        moto.terminate()
        shutil.rmtree(work, ignore_errors=True)
        drop_database(DB)
        drop_database(SMALL_DB)


if __name__ == "__main__":
    main()
