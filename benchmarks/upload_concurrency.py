"""Time `hht-archival run --enable` sending parts one at a time and several at once, over a slow link.

Why: on loopback moto answers at once, so the number of parts in flight
(ARCHIVAL_UPLOAD_CONCURRENCY) shows nothing there; where one connection to S3
is slower than the dump, one part at a time leaves the stream waiting on the
network. This runs the command a user runs, alternating its settings in each
round against bare `pg_dump` on the same database, through benchmarks/slow_link.py
(each connection's uploads held to --link-mb-s, each reply --reply-ms late: a
model of a distant S3, not a measurement of one) in front of moto_server, with
a running `prefect server start`. The archive = enable - disable, as in
pipeline_speed.py. Medians of --rounds; the stream step from the JSON log.

Usage: .venv/bin/python benchmarks/upload_concurrency.py [--rows 2000000] [--rounds 3]
           [--link-mb-s 30] [--reply-ms 50] [--concurrency 1 2 3]
       --link-mb-s 0: no relay, moto_server on loopback as in pipeline_speed.py
       (DATABASE_URL: an admin URL of the PostgreSQL server to use)
"""

from __future__ import annotations

import argparse
import os
import shutil
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
from pipeline_speed import AUDIT_BUCKET, BUCKET, _free_port, bare_pg_dump  # noqa: E402
from slow_link import SlowLink  # noqa: E402

DB = "hht_bench_concurrency"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--link-mb-s",
        type=float,
        default=30.0,
        help="each connection's upload rate, MB/s (0: no relay, moto direct)",
    )
    parser.add_argument("--reply-ms", type=float, default=50.0, help="delay before each reply, ms")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()

    from tests.support.prefectserver import PrefectServer

    port = _free_port()
    moto = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    link = (
        SlowLink(("127.0.0.1", port), args.link_mb_s * 1e6, args.reply_ms / 1000) if args.link_mb_s else None
    )
    work = Path(tempfile.mkdtemp(prefix="hht-bench-"))
    try:
        print(f"building {args.rows:,d} diary rows...", flush=True)
        url = build_database(args.rows, DB)
        print(f"plain dump: {plain_dump_size(url) / 1e6:.0f} MB", flush=True)
        time.sleep(2)
        os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"})  # moto's: any
        direct = boto3.client("s3", region_name="eu-west-1", endpoint_url=f"http://127.0.0.1:{port}")
        for bucket in (BUCKET, AUDIT_BUCKET):
            direct.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        env = {
            "AWS_ENDPOINT_URL": link.endpoint if link else f"http://127.0.0.1:{port}",
            "SPONSOR": "bench",
            "SPONSOR_BACKUPS_BUCKET": BUCKET,
            "SPONSOR_AUDIT_LOGS_BUCKET": AUDIT_BUCKET,
            "ARCHIVAL_LOG_DIR": str(work / "logs"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DATABASE_URL": url,
        }
        times: dict[str, list[float]] = {"bare pg_dump > /dev/null": [], "command --disable": []}
        times.update({f"command --enable, {n} at once": [] for n in args.concurrency})
        streams: dict[int, list[float]] = {n: [] for n in args.concurrency}
        with PrefectServer() as server:
            env.update(server.env())
            run_command(["--disable"], env)  # the server's first run registers the flow: not measured
            for round_ in range(args.rounds):
                times["bare pg_dump > /dev/null"].append(bare_pg_dump(url))
                times["command --disable"].append(run_command(["--disable"], env)[0])
                for n in args.concurrency:
                    seconds, record = run_command(
                        ["--enable"], {**env, "ARCHIVAL_UPLOAD_CONCURRENCY": str(n)}
                    )
                    times[f"command --enable, {n} at once"].append(seconds)
                    streams[n].append(next(s["seconds"] for s in record["steps"] if s["step"] == "stream"))
                print(
                    f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()),
                    flush=True,
                )

        floor = statistics.median(times["bare pg_dump > /dev/null"])
        disabled = statistics.median(times["command --disable"])
        print(f"\n{'':50s} {'median s':>9s} {'x pg_dump':>10s} {'stream s':>9s}")
        print(f"{'bare pg_dump > /dev/null':50s} {floor:9.2f} {1:10.2f}")
        for n in args.concurrency:
            archive = statistics.median(times[f"command --enable, {n} at once"]) - disabled
            label = f"the archive, {n} part{'s' if n > 1 else ''} at once (enable - disable)"
            print(f"{label:50s} {archive:9.2f} {archive / floor:10.2f} {statistics.median(streams[n]):9.2f}")
        where = (
            f"through benchmarks/slow_link.py: each connection's uploads at {args.link_mb_s:g} MB/s, each "
            f"reply {args.reply_ms:g} ms late (a model of a distant S3), moto_server behind it"
            if link
            else "straight to moto_server on loopback (no relay)"
        )
        print(f"\n{where}; {os.cpu_count()}-core machine")
    finally:
        moto.terminate()
        shutil.rmtree(work, ignore_errors=True)
        drop_database(DB)


if __name__ == "__main__":
    main()
