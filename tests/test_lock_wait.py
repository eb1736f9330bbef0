"""A table another session has locked: pg_dump waits ARCHIVAL_TABLE_LOCK_WAIT_SECONDS, then fails.

Another psycopg session holds ``LOCK TABLE ... IN ACCESS EXCLUSIVE MODE`` in an open
transaction, as a migration or VACUUM FULL would. Without a limit pg_dump (and the row
counts on its snapshot) would wait for it silently, for hours; here the run ends with
one sentence naming the sponsor, the table, the wait and the setting, like any other
failure: exit 1, nothing at the final key, the local log, the watchers told.
"""

from __future__ import annotations

import json
import shutil
import time
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg
import pytest

from blocks.config import resolve_config
from hht_archival.adapters.pg_dump import DUMP_TRAILER, stream_dump
from hht_archival.adapters.pg_failures import classify_failure
from hht_archival.adapters.pg_inspect import count_table_rows
from hht_archival.adapters.pipe import BoundedPipe
from hht_archival.errors import ConfigError, TransientError
from tests.conftest import BACKUPS, SPONSOR, log_files, run_cli
from tests.support.pgcluster import SEED_ROW_COUNTS
from tests.support.prefectserver import failed_archive_reasons
from tests.support.s3server import list_keys, open_multipart_uploads

LOCKED = "public.diary_entries"

# What pg_dump 15.20 wrote to stderr, run by hand with --lock-wait-timeout=2000 while another
# session held public.visits in ACCESS EXCLUSIVE mode (pg_dump's lock wait is a statement_timeout).
PG_DUMP_STDERR = (
    "pg_dump: error: query failed: ERROR:  canceling statement due to statement timeout\n"
    "pg_dump: detail: Query was: LOCK TABLE public.visits IN ACCESS SHARE MODE"
)


WHO = "SELECT pid, mode, granted, query FROM pg_locks JOIN pg_stat_activity USING (pid) WHERE relation = "


def sentence(table: str, seconds: str) -> str:
    """The sentence a user reads, written out here rather than taken from the code under test."""
    return (
        f"pg_dump for sponsor titan waited more than {seconds} s for a lock on table {table}, held or "
        f"awaited by another session (a migration, VACUUM FULL); find it with {WHO}'{table}'::regclass, "
        "then run again once it is done, or raise ARCHIVAL_TABLE_LOCK_WAIT_SECONDS."
    )


def query_in(said: str) -> str:
    """The query the sentence tells the user to run, as they would copy it."""
    return said.split("find it with ", 1)[1].split(", then run again", 1)[0]


@contextmanager
def held_exclusively(url: str, table: str):
    """Another session holding ``table`` ACCESS EXCLUSIVE in an open transaction; yields its pid."""
    with psycopg.connect(url) as holder:
        holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        try:
            yield holder.info.backend_pid
        finally:
            holder.rollback()


def test_the_setting_defaults_to_300_s_and_must_be_positive(monkeypatch):
    assert resolve_config().table_lock_wait_seconds == 300
    monkeypatch.setenv("ARCHIVAL_TABLE_LOCK_WAIT_SECONDS", "2")
    assert resolve_config().table_lock_wait_seconds == 2
    monkeypatch.setenv("ARCHIVAL_TABLE_LOCK_WAIT_SECONDS", "0")
    with pytest.raises(ConfigError) as refused:
        resolve_config()
    assert str(refused.value).startswith("Environment variable ARCHIVAL_TABLE_LOCK_WAIT_SECONDS is invalid")


def test_pg_dumps_own_words_on_a_lock_wait_become_one_sentence_worth_a_retry():
    failure = classify_failure(PG_DUMP_STDERR, 1, "titan", 300)

    assert isinstance(failure, TransientError)  # the lock is another session's: it may be released
    assert str(failure) == sentence("public.visits", "300")


def test_a_statement_timeout_on_anything_but_the_lock_is_not_called_a_lock_wait():
    copy = PG_DUMP_STDERR.replace("LOCK TABLE public.visits IN ACCESS SHARE MODE", "COPY public.visits")
    assert "waited more than" not in str(classify_failure(copy, 1, "titan", 300))


def test_an_unblocked_dump_is_whole_with_its_waits_bounded(seeded_db, tmp_path, monkeypatch):
    """pg_dump's arguments as it received them (a shim records them, then runs the real pg_dump)."""
    shim, seen = tmp_path / "pg_dump", tmp_path / "argv"
    shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {seen}\nexec {shutil.which("pg_dump")} "$@"\n')
    shim.chmod(0o700)
    monkeypatch.setenv("ARCHIVAL_PG_DUMP", str(shim))
    pipe = BoundedPipe(256 * 1024 * 1024)  # the seeded dump fits: no reader needed

    result = stream_dump(seeded_db, pipe, "titan", lock_wait_seconds=2)

    assert DUMP_TRAILER in b"".join(pipe)[-4096:]
    assert result.table_counts == {f"public.{table}": rows for table, rows in SEED_ROW_COUNTS.items()}
    argv = seen.read_text().splitlines()
    assert "--lock-wait-timeout=2000" in argv
    [dbname] = [arg for arg in argv if arg.startswith("--dbname=")]
    for limit in ("connect_timeout=10", "keepalives=1", "keepalives_idle=", "keepalives_count="):
        assert limit in dbname


def test_a_row_count_that_runs_out_of_lock_wait_gives_the_same_sentence(seeded_db):
    """The counts run on the dump's snapshot connection, under the same limit as pg_dump's LOCK TABLE."""
    with held_exclusively(seeded_db, LOCKED), psycopg.connect(seeded_db) as counting:
        counting.execute("SET lock_timeout = 500")
        with pytest.raises(psycopg.Error) as raised:
            count_table_rows(counting)

    print(f"\nthe count said: {raised.value}")
    assert str(classify_failure(str(raised.value), 1, "titan", 0.5)) == sentence(LOCKED, "0.5")


def test_a_locked_table_fails_the_run_in_one_sentence_and_tells_the_watchers(
    s3, seeded_db, tmp_path, prefect_server
):
    """Through the command line, against a real Prefect server, as a nightly run would.

    The row counts block on the same table: had their connection no lock_timeout,
    the run would wait for them after pg_dump gave up, and never end.
    """
    since = datetime.now(UTC).isoformat()
    env = {
        **prefect_server.env(),
        "DATABASE_URL": seeded_db,
        "ARCHIVAL_TABLE_LOCK_WAIT_SECONDS": "2",
        "ARCHIVAL_TASK_RETRIES": "0",
    }
    expected = sentence(LOCKED, "2")
    with held_exclusively(seeded_db, LOCKED) as holder_pid:
        started = time.monotonic()
        done = run_cli("run", "--sponsor", "titan", "--enable", env=env)
        print(f"\nthe blocked run took {time.monotonic() - started:.1f} s through the CLI (lock wait 2 s)")
        with psycopg.connect(seeded_db) as looking:  # the query the sentence gives finds the holder
            who = looking.execute(query_in(expected)).fetchall()
        assert (holder_pid, "AccessExclusiveLock", True) in [row[:3] for row in who]

    assert done.returncode == 1, done.stdout + done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("❌")] == [f"❌ {expected}"]
    assert "Traceback" not in done.stdout + done.stderr
    assert list_keys(s3, BACKUPS) == []
    assert open_multipart_uploads(s3, BACKUPS) == []
    [path] = log_files(tmp_path / "logs" / SPONSOR)
    log = json.loads(path.read_text())
    assert (log["status"], log["error"]) == ("failed", expected)
    assert failed_archive_reasons(prefect_server, SPONSOR, since, expected) == [expected]
