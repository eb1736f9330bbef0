"""Print the all-sponsors flow's orchestration overhead per sponsor, for N = 1, 10 and 50 sponsors.

Overhead = (flow wall time - the time spent in the dump | compress | upload stream, summed over
sponsors) / N: what Prefect, the lock and our bookkeeping cost for each sponsor. Every sponsor
is enabled and dumps the same small seeded database into an S3 server (moto) on loopback; the
flow talks to a real `prefect server start` started here. Prefect's own start-up is excluded
and reported apart.

Usage: .venv/bin/python benchmarks/orchestration_overhead.py [N ...]   (DATABASE_URL: admin URL)
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.pgcluster import create_database, drop_database, seed_diary_database  # noqa: E402
from tests.support.prefectserver import PrefectServer  # noqa: E402
from tests.support.s3server import MotoS3, aws_env  # noqa: E402

ADMIN_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
WORK_STEPS = ("stream",)


def main(counts: list[int]) -> None:
    from hht_archival.console import prepare_environment

    prepare_environment(debug=False)  # figures only: Prefect's console stays quiet
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    db_name = f"hht_bench_{uuid.uuid4().hex[:8]}"
    db_url = create_database(ADMIN_URL, db_name)
    seed_diary_database(db_url)
    scratch = Path(tempfile.mkdtemp(prefix="hht-bench-"))
    try:
        with MotoS3() as s3, PrefectServer() as server:
            os.environ.update(
                {
                    **aws_env(s3.endpoint),
                    **server.env(),
                    "ARCHIVAL_LOG_DIR": str(scratch / "logs"),
                    "ARCHIVAL_WORK_DIR": str(scratch),
                }
            )
            started = time.perf_counter()
            from flows.archive_all_sponsors import archive_all_sponsors

            print(f"importing the flows: {time.perf_counter() - started:.1f} s (excluded below)")
            print(f"{'sponsors':>8} {'wall s':>8} {'work s':>8} {'overhead/sponsor s':>19}")
            for count in counts:
                names = [f"bench{count}-{i}" for i in range(count)]
                for name in names:
                    prefix = name.upper().replace("-", "_") + "_"
                    os.environ[prefix + "ENABLE_S3_BACKUP_ARCHIVAL"] = "true"
                    os.environ[prefix + "DATABASE_URL"] = db_url
                    s3.make_buckets(
                        f"hht-diary-backups-{name}-eu-west-1", f"hht-diary-audit-logs-{name}-eu-west-1"
                    )
                manifest = scratch / f"sponsors-{count}.yaml"
                manifest.write_text(
                    "sponsors:\n"
                    + "".join(
                        f"  - name: {n}\n    env_prefix: {n.upper().replace('-', '_')}_\n" for n in names
                    )
                )
                began = time.perf_counter()
                summary = archive_all_sponsors(manifest=str(manifest))
                wall = time.perf_counter() - began
                work = 0.0
                for row in summary:
                    log = json.loads(Path(row["local_log"]).read_text())
                    work += sum(s["seconds"] for s in log["steps"] if s["step"] in WORK_STEPS)
                print(f"{count:>8} {wall:>8.1f} {work:>8.1f} {(wall - work) / count:>19.2f}")
            print("max_parallel 4; 2-core machine; moto's S3 server shares the CPU with the flow.")
    finally:
        drop_database(ADMIN_URL, db_name)


if __name__ == "__main__":
    main([int(n) for n in sys.argv[1:]] or [1, 10, 50])
