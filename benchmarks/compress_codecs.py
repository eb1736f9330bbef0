"""Print speed and ratio of the gzip-compatible codecs on a plain pg_dump of diary-shaped data.

Why: the compress step's codec and level were chosen from these figures; rerun
this on your own hardware before changing them.

Usage: .venv/bin/python benchmarks/compress_codecs.py [ROWS]   (DATABASE_URL: an admin URL)
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time

import psycopg
from isal import igzip
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ADMIN_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PROBE_DB = "hht_codec_probe"


def main(rows: int) -> None:
    probe_url = make_conninfo(**{**conninfo_to_dict(ADMIN_URL), "dbname": PROBE_DB})
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PROBE_DB}")
        conn.execute(f"CREATE DATABASE {PROBE_DB}")
    try:
        with psycopg.connect(probe_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE entries (id uuid, at timestamptz, payload jsonb, note text)")
            conn.execute(
                "INSERT INTO entries SELECT md5(g::text)::uuid, now() - g * interval '1 min', "
                "jsonb_build_object('pain', g %% 11, 'mood', md5((g * 3)::text)), "
                "'entry ' || g || ' ' || md5((g * 7)::text) FROM generate_series(1, %s) g",
                (rows,),
            )
        raw = subprocess.run(["pg_dump", f"--dbname={probe_url}"], capture_output=True, check=True).stdout
        print(f"plain dump: {len(raw) / 1e6:.1f} MB ({rows} rows)")
        codecs = {
            "isal level 0": lambda b: igzip.compress(b, compresslevel=0),
            "isal level 1 (used)": lambda b: igzip.compress(b, compresslevel=1),
            "isal level 2": lambda b: igzip.compress(b, compresslevel=2),
            "isal level 3": lambda b: igzip.compress(b, compresslevel=3),
            "zlib level 6 (gzip's default)": lambda b: gzip.compress(b, compresslevel=6, mtime=0),
        }
        for name, compress in codecs.items():
            started = time.perf_counter()
            out = compress(raw)
            seconds = time.perf_counter() - started
            print(f"{name:32s} {len(raw) / seconds / 1e6:7.0f} MB/s   ratio {len(raw) / len(out):.2f}")
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PROBE_DB}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400_000)
