"""Time a recovery: hht-archival restore (download, verify, load) against psql and pg_restore --jobs.

Why: a backup is worth what its restore costs on the day it is needed. The
2 M-row benchmark database is archived once in each format (timed: what the
format costs at archive time), into an S3 server (moto_server, its own
process) on loopback, with its roles object beside it. Then, alternately,
ROUNDS times each, into a new database each time:

- ``hht-archival sql.gz`` and ``hht-archival dump``: the real restore path
  (restore_backup: list, check the target and roles, download, SHA-256,
  load in one transaction through psql, the custom format via pg_restore's script);
- ``psql -1 -f dump.sql``: the same plain dump, already on local disk and
  uncompressed, in one transaction: the floor for a plain-SQL restore;
- ``pg_restore --jobs N``: the same custom-format dump on local disk, N
  parallel workers (one per core), not in one transaction.

Medians are printed with their ratio to psql. An existing ``hht_bench_2m``
database with that many rows is used read-only; otherwise one is built and
dropped afterwards.

Usage: .venv/bin/python benchmarks/restore_speed.py [--rows 2000000] [--rounds 3]
       (DATABASE_URL: an admin URL of the PostgreSQL server to use)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg  # noqa: E402
from diary_database import ADMIN_URL, build_database, drop_database  # noqa: E402
from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: E402

from blocks.config import resolve_config  # noqa: E402
from hht_archival.adapters import s3  # noqa: E402
from hht_archival.adapters.codecs import FORMATS, compress_stream  # noqa: E402
from hht_archival.adapters.pg_dump import stream_dump  # noqa: E402
from hht_archival.adapters.pipe import keep_memory_flat, stream_through  # noqa: E402
from hht_archival.naming import RunNames  # noqa: E402
from hht_archival.restore import restore_backup  # noqa: E402
from tasks.stream import PIPE_CAPACITY  # noqa: E402

SHARED = "hht_bench_2m"
BUILT = "hht_bench_restore_source"
TARGET = "hht_bench_restore_target"
BACKUPS, AUDIT = "hht-diary-backups-bench-eu-west-1", "hht-diary-audit-logs-bench-eu-west-1"


def _url(name: str) -> str:
    return make_conninfo(**{**conninfo_to_dict(ADMIN_URL), "dbname": name})


def _rows(name: str) -> int | None:
    try:
        with psycopg.connect(_url(name), connect_timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM diary_entries").fetchone()[0]
    except psycopg.Error:
        return None


def archive(url: str, client, fmt: str, names: RunNames) -> tuple[float, int]:
    """The flow's archive stages on plain threads, then the tags and the roles object; seconds and size."""
    backup_format = FORMATS[fmt]
    keep_memory_flat()
    started = time.perf_counter()
    done, _ = stream_through(
        lambda raw: stream_dump(url, raw, "bench", custom_format=backup_format.pg_dump_format == "custom"),
        lambda raw, packed: compress_stream(raw, backup_format, packed),
        lambda packed: s3.upload_stream(
            client, packed, BACKUPS, names.backup_key, sponsor="bench", metadata={}
        ),
        PIPE_CAPACITY,
    )
    seconds = time.perf_counter() - started
    tags = names.retention_tags("database-backup", done["compress"].sha256)
    s3.put_tags(client, BACKUPS, names.backup_key, tags, "bench")
    body = done["dump"].roles.document(
        sponsor="bench", environment="production", timestamp=names.timestamp, backup_key=names.backup_key
    )
    tags = names.retention_tags("database-roles", hashlib.sha256(body).hexdigest())
    s3.put_json(client, BACKUPS, names.roles_key, body, tags=tags, sponsor="bench")
    return seconds, done["compress"].size


def fresh_target() -> str:
    drop_database(TARGET)
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {TARGET}")
    return _url(TARGET)


def timed(call, rows: int) -> float:
    target = fresh_target()
    started = time.perf_counter()
    call(target)
    seconds = time.perf_counter() - started
    if _rows(TARGET) != rows:
        raise RuntimeError(f"the restore did not bring back {rows:,d} rows")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    jobs = os.cpu_count() or 2

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    moto = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    work = Path(tempfile.mkdtemp(prefix="hht-bench-restore-"))
    built = False
    try:
        if _rows(SHARED) == args.rows:
            source = _url(SHARED)
            print(f"using {SHARED} ({args.rows:,d} rows), read-only", flush=True)
        else:
            print(f"building {args.rows:,d} diary rows...", flush=True)
            source, built = build_database(args.rows, BUILT), True
        endpoint = f"http://127.0.0.1:{port}"
        os.environ.update(
            {"AWS_ACCESS_KEY_ID": "b", "AWS_SECRET_ACCESS_KEY": "b", "AWS_ENDPOINT_URL": endpoint}
        )
        time.sleep(2)
        client = s3.make_client("eu-west-1")
        for bucket in (BACKUPS, AUDIT):
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        keys = {}
        for second, fmt in enumerate(("sql.gz", "dump")):
            moment = datetime(2026, 1, 1, 2, 0, second, tzinfo=UTC)
            names = RunNames("bench", "production", moment, FORMATS[fmt].extension)
            seconds, size = archive(source, client, fmt, names)
            keys[fmt] = names.backup_key
            print(f"archive {fmt:7s}: {seconds:6.2f} s, {size / 1e6:6.1f} MB in S3", flush=True)
        local_dump = work / "local.dump"
        client.download_file(BACKUPS, keys["dump"], str(local_dump))
        local_sql = work / "local.sql"
        with local_sql.open("wb") as out:
            gz = work / "local.sql.gz"
            client.download_file(BACKUPS, keys["sql.gz"], str(gz))
            subprocess.run(["gunzip", "-c", str(gz)], stdout=out, check=True)
            gz.unlink()
        config = resolve_config(sponsor="bench", backups_bucket=BACKUPS, audit_logs_bucket=AUDIT)

        def ours(fmt):
            return lambda target: restore_backup(client, config, keys[fmt], target, work)

        runs = {
            "hht-archival restore sql.gz": ours("sql.gz"),
            "hht-archival restore dump": ours("dump"),
            "psql -1 -f dump.sql (local)": lambda t: subprocess.run(
                ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-f", str(local_sql), f"--dbname={t}"],
                stdout=subprocess.DEVNULL,
                check=True,
            ),
            f"pg_restore --jobs {jobs} (local)": lambda t: subprocess.run(
                ["pg_restore", f"--jobs={jobs}", "--exit-on-error", f"--dbname={t}", str(local_dump)],
                check=True,
            ),
        }
        times: dict[str, list[float]] = {name: [] for name in runs}
        for round_ in range(args.rounds):
            for name, call in runs.items():
                times[name].append(timed(call, args.rows))
            print(
                f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()),
                flush=True,
            )
        floor = statistics.median(times["psql -1 -f dump.sql (local)"])
        print(f"\n{'':32s} {'median s':>9s} {'x psql':>8s}")
        for name, values in times.items():
            print(f"{name:32s} {statistics.median(values):9.2f} {statistics.median(values) / floor:8.2f}")
        print(f"\n{os.cpu_count()}-core machine; moto_server on loopback serves the downloads.")
    finally:
        moto.terminate()
        shutil.rmtree(work, ignore_errors=True)
        drop_database(TARGET)
        if built:
            drop_database(BUILT)


if __name__ == "__main__":
    main()
