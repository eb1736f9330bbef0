"""Time one sponsor's archive against bare pg_dump and against the seed's shell pipeline.

Why: pg_dump is the floor; the question is how close the archive sits to it
and how far it is ahead of the seed's `pg_dump > file; gzip; aws s3 cp`. The
three are run alternately, ROUNDS times each, on the same database, against an
S3 server (moto_server, its own process) on loopback; medians are printed with
their ratio to bare pg_dump, with our process's peak RSS and the peak
temporary disk. Prefect is not involved here: its start-up and bookkeeping are
measured by orchestration_overhead.py.

Usage: .venv/bin/python benchmarks/pipeline_speed.py [--rows 2000000] [--rounds 3]
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
import psycopg
from boto3.s3.transfer import TransferConfig
from psycopg.conninfo import conninfo_to_dict, make_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hht_archival.adapters import s3  # noqa: E402
from hht_archival.adapters.codecs import FORMATS, pack  # noqa: E402
from hht_archival.adapters.postgres import dump_database  # noqa: E402

ADMIN_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB = "hht_bench_speed"
BUCKET = "hht-bench-backups"

_FILL = """
CREATE TABLE diary_entries (
    id uuid PRIMARY KEY, patient uuid, recorded_at timestamptz, payload jsonb, note text
);
INSERT INTO diary_entries
SELECT md5('e' || g)::uuid, md5('p' || (g %% 5000))::uuid, now() - g * interval '37 seconds',
       jsonb_build_object('pain', g %% 11, 'sleep', (g %% 9) + 0.5, 'mood', md5((g * 7)::text), 'tags',
                          jsonb_build_array('t' || g %% 13, 'night')),
       'Patient reports ' || (ARRAY['mild', 'moderate', 'severe'])[1 + g %% 3] || ' symptoms; '
       || md5((g * 3)::text) || ' follow-up ' || g %% 97
FROM generate_series(1, %s) g;
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_database(rows: int) -> str:
    url = make_conninfo(**{**conninfo_to_dict(ADMIN_URL), "dbname": DB})
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB}")
        conn.execute(f"CREATE DATABASE {DB}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_FILL % rows)
    return url


def _plain_dump_size(url: str) -> int:
    """Size of the plain dump, counted as it streams by (never held in memory)."""
    proc = subprocess.Popen(["pg_dump", f"--dbname={url}"], stdout=subprocess.PIPE)
    size = 0
    while chunk := proc.stdout.read(1 << 20):
        size += len(chunk)
    proc.wait()
    return size


def bare_pg_dump(url: str, work: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["pg_dump", f"--dbname={url}"], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def seed_pipeline(url: str, work: Path, client) -> float:
    """The seed's step: pg_dump > file; gzip (level 6); upload (aws s3 cp uses s3transfer, as here)."""
    dump = work / "backup.sql"
    started = time.perf_counter()
    with dump.open("wb") as out:
        subprocess.run(["pg_dump", f"--dbname={url}"], stdout=out, check=True)
    subprocess.run(["gzip", "-6", "-f", str(dump)], check=True)
    client.upload_file(str(dump) + ".gz", BUCKET, "seed/backup.sql.gz", Config=TransferConfig())
    seconds = time.perf_counter() - started
    Path(str(dump) + ".gz").unlink()
    return seconds


def ours(url: str, work: Path, client, fmt: str, peak_disk: list[int], sizes: dict[str, int]) -> float:
    """dump (with row counts) -> compress (SHA-256 in the same pass) -> upload (SSE, checksums) -> tag."""
    backup_format = FORMATS[fmt]
    started = time.perf_counter()
    dumped = dump_database(
        url, work / "dump.sql", "bench", custom_format=backup_format.pg_dump_format == "custom"
    )
    packed = pack(dumped.path, backup_format)
    peak_disk.append(dumped.size + (packed.size if packed.path != dumped.path else 0))
    if packed.path != dumped.path:
        dumped.path.unlink()
    key = f"ours/backup.{backup_format.extension}"
    s3.upload_file(client, packed.path, BUCKET, key, sha256_hex=packed.sha256, sponsor="bench", metadata={})
    s3.put_tags(client, BUCKET, key, {"sha256": packed.sha256}, "bench")
    seconds = time.perf_counter() - started
    sizes[fmt] = packed.size
    packed.path.unlink()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=list(FORMATS))
    args = parser.parse_args()

    port = _free_port()
    moto = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    work = Path(tempfile.mkdtemp(prefix="hht-bench-"))
    try:
        print(f"building {args.rows:,d} diary rows...", flush=True)
        url = build_database(args.rows)
        plain_size = _plain_dump_size(url)
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
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        ours_client = s3.make_client("eu-west-1")
        times: dict[str, list[float]] = {"bare pg_dump > /dev/null": [], "seed pipeline": []}
        times.update({f"hht-archival {fmt}": [] for fmt in args.formats})
        sizes: dict[str, int] = {}
        peak_disk: list[int] = []
        for round_ in range(args.rounds):
            times["bare pg_dump > /dev/null"].append(bare_pg_dump(url, work))
            times["seed pipeline"].append(seed_pipeline(url, work, client))
            for fmt in args.formats:
                times[f"hht-archival {fmt}"].append(ours(url, work, ours_client, fmt, peak_disk, sizes))
            print(
                f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()),
                flush=True,
            )
        floor = statistics.median(times["bare pg_dump > /dev/null"])
        print(
            "compression ratio (plain dump size / archived object size): "
            + ", ".join(f"{fmt} {plain_size / size:.2f}" for fmt, size in sizes.items())
        )
        print(f"\n{'':28s} {'median s':>9s} {'x pg_dump':>10s}")
        for name, values in times.items():
            print(f"{name:28s} {statistics.median(values):9.2f} {statistics.median(values) / floor:10.2f}")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        disk = max(peak_disk) / 1e6
        print(f"\npeak RSS of this process: {rss:.0f} MiB; peak temporary disk (ours): {disk:.0f} MB")
        print("2-core machine; moto_server on loopback takes CPU of its own during uploads.")
    finally:
        moto.terminate()
        shutil.rmtree(work, ignore_errors=True)
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DB}")


if __name__ == "__main__":
    main()
