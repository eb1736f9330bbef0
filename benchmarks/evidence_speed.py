"""How long an evidence report takes for a year and for seven years of nightly archives.

    .venv/bin/python benchmarks/evidence_speed.py            # 365 and 2,555 days
    .venv/bin/python benchmarks/evidence_speed.py --days 365

For each size: a fresh S3 server (moto_server, its own process, on loopback),
one archive a day written back-dated through the code that writes them
(tests/support/history.py: the run's keys, its deployment log linked into the
hash chain with its metadata, a small tagged backup), every log and backup
older than 90 days moved to DEEP_ARCHIVE as the lifecycle rule does, a drill a
week; then ``hht-archival evidence`` is run as a user runs it (no Prefect
server: S3 alone) and timed, and the report is made once more in-process to
count its S3 requests by kind. moto_server takes CPU of its own on the same 2
cores, so the figures are ours and moto's together.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _moto(port: int) -> subprocess.Popen:
    moto = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return moto
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("moto_server did not start")


def one_size(days: int) -> None:
    from tests.support.s3server import MotoS3, aws_env

    port = _free_port()
    moto = _moto(port)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        os.environ.update(aws_env(endpoint))
        os.environ.update({"SPONSOR": "titan", "PREFECT_API_URL": ""})
        os.environ.pop("PREFECT_API_URL")
        server = MotoS3()
        server.endpoint = endpoint
        server.make_buckets("hht-diary-backups-titan-eu-west-1", "hht-diary-audit-logs-titan-eu-west-1")
        built = _build(days)
        print(f"{days} days: {built}")
        with tempfile.TemporaryDirectory() as work:
            first, last = (date.today() - timedelta(days=days)).isoformat(), date.today().isoformat()
            started = time.monotonic()
            done = subprocess.run(
                [str(Path(sys.executable).with_name("hht-archival")), "evidence", "--sponsor", "titan",
                 "--environment", "production", "--from", first, "--to", last,
                 "--out", str(Path(work) / "report.html")],
                capture_output=True, text=True, check=False, cwd=work,
            )  # fmt: skip
            seconds = time.monotonic() - started
            if done.returncode != 0:
                raise SystemExit(done.stderr)
            size = (Path(work) / "report.html").stat().st_size
        print(f"  hht-archival evidence: {seconds:.2f} s wall (report {size / 2**20:.1f} MiB)")
        print(f"  {done.stdout.splitlines()[0]}")
        print(f"  S3 requests of one report, by kind: {_requests(days)}")
    finally:
        moto.terminate()
        moto.wait()


def _build(days: int) -> str:
    from blocks.config import resolve_config
    from hht_archival.adapters.s3 import client_for
    from tests.support.history import freeze, write_drill, write_history

    config = resolve_config(sponsor="titan", environment="production")
    client = client_for(config)
    today = date.today()
    every = [today - timedelta(days=d) for d in range(days, 0, -1)]
    started = time.monotonic()
    write_history(client, config, every, failed={every[len(every) // 3]}, small={every[len(every) // 2]})
    for day in every[::7]:
        write_drill(
            client, config, day, f"backups/{day:%Y/%m/%d}/backup-prod-{day:%Y%m%d}-020000.sql.gz", True
        )
    cold = [d for d in every if (today - d).days > 90]
    for day in cold:
        stamp = f"{day:%Y/%m/%d}", f"{day:%Y%m%d}-020000"
        freeze(client, config.audit_logs_bucket, f"deployments/{stamp[0]}/deployment-prod-{stamp[1]}.json")
        if day != every[len(every) // 3]:  # the failed run has no backup
            freeze(client, config.backups_bucket, f"backups/{stamp[0]}/backup-prod-{stamp[1]}.sql.gz")
    return f"built in {time.monotonic() - started:.0f} s ({len(cold)} logs and backups cold, as at day 90)"


def _requests(days: int) -> str:
    """The report made in-process once more, its requests counted by operation (botocore's events)."""
    from blocks.config import resolve_config
    from hht_archival.adapters.s3 import client_for
    from hht_archival.evidence.report import build, store

    config = resolve_config(sponsor="titan", environment="production")
    client = client_for(config)
    counted: Counter = Counter()
    client.meta.events.register("before-send.s3.*", lambda request, **_: counted.update([request.method]))
    calls: Counter = Counter()
    client.meta.events.register("before-call.s3.*", lambda model, **_: calls.update([model.name]))
    first = date.today() - timedelta(days=days)
    started = time.monotonic()
    facts, html = build(client, config, first, date.today())
    store(client, config, facts, html, datetime.now(UTC).replace(microsecond=0))
    seconds = time.monotonic() - started
    return f"{dict(sorted(calls.items()))} (in-process: {seconds:.2f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, action="append", help="days of archives (default: 365 and 2555)")
    for days in parser.parse_args().days or [365, 2555]:
        one_size(days)
    print("2-core machine; moto_server on loopback takes CPU of its own on the same cores.")


if __name__ == "__main__":
    main()
