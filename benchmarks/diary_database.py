"""The benchmarks' database: diary entries (UUIDs, timestamps, JSONB, free text), any number of rows.

Shared by pipeline_speed.py and memory_flat.py so both measure the same shape of data.
"""

from __future__ import annotations

import os
import subprocess

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ADMIN_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

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


def build_database(rows: int, name: str) -> str:
    """(Re)create database ``name`` with ``rows`` diary entries; return its URL."""
    url = make_conninfo(**{**conninfo_to_dict(ADMIN_URL), "dbname": name})
    drop_database(name)
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_FILL % rows)
        # As a database that has been up a while: hint bits set and statistics taken. Otherwise the
        # first command to read the new rows (the first round's bare pg_dump) pays for writing them.
        conn.execute("VACUUM (FREEZE, ANALYZE)")
    return url


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")


def plain_dump_size(url: str) -> int:
    """Size of the plain dump, counted as it streams by (never held in memory)."""
    proc = subprocess.Popen(["pg_dump", f"--dbname={url}"], stdout=subprocess.PIPE)
    size = 0
    while chunk := proc.stdout.read(1 << 20):
        size += len(chunk)
    proc.wait()
    return size
