"""pg_dump, run without a shell into a bounded pipe, and counted a backup only when complete.

Finding the binary and keeping the password in a private passfile, never in
argv, are postgres.py's; this module runs one dump and judges its output.

Contract: ``stream_dump`` streams pg_dump's output into a bounded pipe and
closes the pipe only when the dump is complete; otherwise it fails the pipe
and raises. A non-zero exit or a dump without pg_dump's closing trailer is an
error, so a truncated dump can never be completed as a backup. Failures that
waiting may cure (server unreachable, restarting) are ``TransientError``;
wrong passwords, missing databases and version mismatches are not.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass

from hht_archival import stopping
from hht_archival.adapters.cpu import process_cpu_at_exit
from hht_archival.adapters.pg_failures import classify_failure, scrub
from hht_archival.adapters.pg_inspect import count_table_rows
from hht_archival.adapters.pg_roles import read_roles
from hht_archival.adapters.pipe import BoundedPipe, StreamAborted, failing
from hht_archival.adapters.postgres import bounded, find_pg_dump, passfile_environment
from hht_archival.errors import TransientError
from hht_archival.roles import DatabaseRoles

DUMP_TRAILER = b"-- PostgreSQL database dump complete"
_TRAILER_WINDOW = 4096
CHUNK = 1024 * 1024
_FASTEST_DUMP_BYTES_PER_SECOND = 250e6  # the pause must not let a faster pg_dump fill the pipe


@dataclass(frozen=True)
class DumpResult:
    size: int  # bytes pg_dump wrote
    table_counts: dict[str, int] | None = None  # rows per table, in the dump's own snapshot
    roles: DatabaseRoles | None = None  # the roles the dumped objects refer to, in the same snapshot
    pg_dump_cpu: float | None = None  # CPU seconds of the pg_dump process (None where /proc is not)
    reader_cpu: float = 0.0  # CPU seconds of the thread moving its output into the pipe


def stream_dump(
    database_url: str,
    out: BoundedPipe,
    sponsor: str,
    count_rows: bool = True,
    custom_format: bool = False,
    role_passwords: bool = False,
    lock_wait_seconds: float = 300,
) -> DumpResult:
    """Run pg_dump into ``out``; close it only once the dump is known complete, else fail it.

    Complete means pg_dump exited 0 and its output ends with the plain format's
    closing trailer (or, for the custom format, starts with its magic header).
    A REPEATABLE READ transaction exports its snapshot and pg_dump dumps exactly
    that snapshot (``--snapshot``). In it, before pg_dump starts, the roles the
    database's objects refer to are read (pg_roles.py: pg_dump leaves them out,
    and a backup without them restores only where they exist); with
    ``count_rows``, every table's rows are counted in it while pg_dump runs. Both
    describe the dump, not the database a moment later, so a restore drill can
    hold the restore to them.

    No wait is unbounded: pg_dump waits at most ``lock_wait_seconds`` for each
    table's lock (``--lock-wait-timeout``), the snapshot's connection, whose row
    counts wait on the same locks, has that ``lock_timeout``, and both connections
    give up on a server that does not answer or has gone (postgres.BOUNDED_CONNECTION).
    """
    with failing(out):
        result = _stream_dump(
            database_url, out, sponsor, count_rows, custom_format, role_passwords, lock_wait_seconds
        )
    out.close()
    return result


def _stream_dump(
    database_url, out: BoundedPipe, sponsor, count_rows, custom_format, role_passwords, lock_wait_seconds
) -> DumpResult:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    pg_dump = find_pg_dump()
    lock_wait_ms = max(1, round(lock_wait_seconds * 1000))
    with passfile_environment(database_url) as (conninfo, env), ExitStack() as held:
        argv = [
            pg_dump,
            f"--format={'custom' if custom_format else 'plain'}",
            "--no-password",
            f"--lock-wait-timeout={lock_wait_ms}",
            f"--dbname={conninfo}",
        ]
        try:  # the snapshot's connection stays open until pg_dump is done with it
            conn = held.enter_context(psycopg.connect(**bounded(conninfo_to_dict(database_url))))
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            # After SET TRANSACTION, which must come first; SET takes no snapshot, so the one exported
            # next is still the transaction's own. The row counts then wait no longer than pg_dump.
            conn.execute(f"SET lock_timeout = {lock_wait_ms}")
            # The counts are never what the archive waits for, pg_dump's backend is: counted by one
            # process, they take a third of the CPU a parallel plan's three take from it on a small server.
            conn.execute("SET max_parallel_workers_per_gather = 0")
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            roles = read_roles(conn, sponsor, role_passwords)
        except psycopg.Error as exc:
            raise classify_failure(scrub(str(exc), database_url), 1, sponsor, lock_wait_seconds) from None
        argv.append(f"--snapshot={snapshot}")
        if out.failure is not None:  # the stream was stopped while the snapshot was taken
            raise StreamAborted(out.failure)
        counter = _Background(count_table_rows, conn) if count_rows else None
        # A process group of its own: a Ctrl-C at the terminal reaches this process, which stops
        # pg_dump itself and says why, rather than pg_dump dying first of the same signal.
        proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            process_group=0,
        )
        held.enter_context(stopping.on_exit_now(proc.kill))
        # Whoever fails the stream (a later stage, a stop) ends pg_dump and the count where they wait,
        # even when that is on a table lock and no byte comes out to notice the failure by.
        out.when_failed(proc.kill)
        if counter:
            out.when_failed(conn.cancel)
        stderr = _Background(_read_tail, proc.stderr)
        reading = time.thread_time()
        try:
            size, head, tail = _copy_output(proc.stdout, out)
        except BaseException:
            proc.kill()  # a later stage failed: no one will read the rest
            raise
        finally:
            reader_cpu = time.thread_time() - reading
            proc.stdout.close()
            pg_dump_cpu = process_cpu_at_exit(proc.pid)
            proc.wait()
        if counter:
            counter.join()  # before the connection, and with it the snapshot, is closed
        stderr.join()
    if out.failure is not None:  # pg_dump was ended because the stream failed: that is the cause
        raise StreamAborted(out.failure)
    stderr_text = scrub((stderr.value or b"").decode("utf-8", "replace").strip(), database_url)
    if proc.returncode != 0:  # pg_dump's own words first: they say why the count may have failed too
        raise classify_failure(stderr_text, proc.returncode, sponsor, lock_wait_seconds)
    complete = head.startswith(b"PGDMP") if custom_format else DUMP_TRAILER in tail
    if not complete:
        raise TransientError(
            f"pg_dump for sponsor {sponsor} exited cleanly but its output lacks the "
            "'dump complete' trailer, so the dump is treated as truncated and not uploaded."
        )
    if counter and counter.error is not None:
        raise classify_failure(
            scrub(str(counter.error), database_url), 1, sponsor, lock_wait_seconds
        ) from None
    return DumpResult(
        size=size,
        table_counts=counter.value if counter else None,
        roles=roles,
        pg_dump_cpu=pg_dump_cpu,
        reader_cpu=reader_cpu,
    )


def _copy_output(stdout, out: BoundedPipe) -> tuple[int, bytes, bytes]:
    """Move pg_dump's output into the pipe; return its size, first bytes and last bytes.

    Each read takes whatever the OS pipe holds; after a read that found it
    less than half full, the reader waits a moment for pg_dump to write more.
    Why: pg_dump writes a few KiB at a time, and a reader woken for each write
    spent 0.4-0.6 CPU-seconds per 556 MB on a 2-core machine, CPU the backend
    and the compressor were short of; pausing cut that by about 40%. The pause
    is short enough that a pg_dump writing up to 250 MB/s does not find the
    pipe full meanwhile (docs/figures.md).
    """
    fd = stdout.fileno()
    room = _widen_pipe(stdout)
    pause = room / 2 / _FASTEST_DUMP_BYTES_PER_SECOND
    size, head, tail = 0, b"", b""
    while chunk := os.read(fd, room):
        if size < _TRAILER_WINDOW:
            head = (head + chunk)[:_TRAILER_WINDOW]
        tail = (tail + chunk)[-_TRAILER_WINDOW:] if len(chunk) < _TRAILER_WINDOW else chunk[-_TRAILER_WINDOW:]
        size += len(chunk)
        out.put(chunk)
        if len(chunk) < room // 2:
            time.sleep(pause)
    return size, head, tail


def _widen_pipe(stream) -> int:
    """Let pg_dump run ahead by a chunk instead of 64 KiB (Linux only); return the pipe's size."""
    try:
        return fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), CHUNK)
    except OSError:  # capped by /proc/sys/fs/pipe-max-size for unprivileged users: the default still works
        try:
            return fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_GETPIPE_SZ", 1032))
        except OSError:
            return 64 * 1024  # Linux's default; elsewhere only the pause's length depends on it


def _read_tail(stream, limit: int = 64 * 1024) -> bytes:
    """Drain pg_dump's stderr (so it never blocks on a full pipe), keeping the last ``limit`` bytes."""
    kept = b""
    while chunk := stream.read(4096):
        kept = (kept + chunk)[-limit:]
    return kept


class _Background:
    """Run one call on a thread beside pg_dump; after ``join``, ``value`` or ``error`` holds the outcome."""

    def __init__(self, call, *args):
        self.value = self.error = None
        self._thread = threading.Thread(target=self._run, args=(call, *args), daemon=True)
        self._thread.start()

    def _run(self, call, *args):
        try:
            self.value = call(*args)
        except BaseException as exc:  # read by the caller after join()
            self.error = exc

    def join(self) -> None:
        self._thread.join()
