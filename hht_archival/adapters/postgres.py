"""pg_dump, run without a shell, with the password in a private passfile and never in argv.

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
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from hht_archival.adapters.pg_failures import classify_failure, scrub
from hht_archival.adapters.pg_roles import read_roles
from hht_archival.adapters.pipe import BoundedPipe, failing
from hht_archival.errors import ConfigError, TransientError
from hht_archival.roles import DatabaseRoles

DUMP_TRAILER = b"-- PostgreSQL database dump complete"
_TRAILER_WINDOW = 4096
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class DumpResult:
    size: int  # bytes pg_dump wrote
    table_counts: dict[str, int] | None = None  # rows per table, in the dump's own snapshot
    roles: DatabaseRoles | None = None  # the roles the dumped objects refer to, in the same snapshot


_COUNT_TABLES = """
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
ORDER BY 1
"""


def mask_url(url: str) -> str:
    """Return a connection string fit for logs: the password replaced by ``***``."""
    try:
        params = conninfo_to_dict(url)
    except Exception:
        return "<unparseable DATABASE_URL>"
    if "password" in params:
        params["password"] = "***"  # noqa: S105 (the mask, not a password)
    return make_conninfo(**params)


def count_table_rows(conn) -> dict[str, int]:
    """Rows of every user table (``schema.table``), as the connection's transaction sees them."""
    tables = [row[0] for row in conn.execute(_COUNT_TABLES)]
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}  # noqa: S608


def find_pg_dump() -> str:
    """ARCHIVAL_PG_DUMP if set (to pick one of several installed versions), else pg_dump on PATH."""
    path = os.environ.get("ARCHIVAL_PG_DUMP") or shutil.which("pg_dump")
    if path is None:
        raise ConfigError(
            "pg_dump was not found on PATH; install the PostgreSQL client tools "
            "(for example: apt-get install postgresql-client)."
        )
    return path


def pg_dump_version(pg_dump: str) -> tuple[int, str]:
    """The major version and full version line pg_dump reports, e.g. (15, 'pg_dump (PostgreSQL) 15.19')."""
    line = subprocess.run([pg_dump, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", line)
    if not match:
        raise ConfigError(f"Could not read the version of {pg_dump} from {line!r}; is it pg_dump?")
    return int(match.group(1)), line


def server_version(database_url: str) -> tuple[int, str]:
    """The server's major version and its version string (connects with the URL's own password)."""
    import psycopg

    with psycopg.connect(database_url, connect_timeout=5) as conn:
        number = conn.info.server_version
        text = conn.execute("SHOW server_version").fetchone()[0]
    return number // 10000, text


_PASSED_TO_PG_DUMP = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "USER", "LOGNAME")


def pg_dump_environment(environ) -> dict[str, str]:
    """What pg_dump inherits: locale, paths and libpq's own PG* settings, and nothing else.

    The runner's environment holds AWS keys, tokens and other tenants' URLs;
    pg_dump needs none of them, and a child's environment is readable in
    /proc by its user. PGPASSWORD is dropped too: the password goes in a passfile.
    """
    return {
        name: value
        for name, value in environ.items()
        if (name in _PASSED_TO_PG_DUMP or name.startswith(("LC_", "PG"))) and name != "PGPASSWORD"
    }


@contextmanager
def passfile_environment(database_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    """Yield a password-free conninfo and an environment whose PGPASSFILE holds the password.

    The passfile is created 0600 in a private directory and removed on exit;
    the environment is ``pg_dump_environment``'s, so no other secret reaches pg_dump.
    """
    try:
        params = conninfo_to_dict(database_url)
    except Exception:
        raise ConfigError(
            "DATABASE_URL is not a valid PostgreSQL connection string; use "
            "postgresql://USER:PASSWORD@HOST:PORT/DBNAME."
        ) from None
    password = params.pop("password", None)
    env = pg_dump_environment(os.environ)
    if password is None:
        yield make_conninfo(**params), env
        return
    with tempfile.TemporaryDirectory(prefix="hht-pgpass-") as private:
        passfile = Path(private) / "pgpass"
        escaped = password.replace("\\", "\\\\").replace(":", "\\:")
        fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"*:*:*:*:{escaped}\n")
        env["PGPASSFILE"] = str(passfile)
        yield make_conninfo(**params), env


def stream_dump(
    database_url: str,
    out: BoundedPipe,
    sponsor: str,
    count_rows: bool = True,
    custom_format: bool = False,
    role_passwords: bool = False,
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
    """
    with failing(out):
        result = _stream_dump(database_url, out, sponsor, count_rows, custom_format, role_passwords)
    out.close()
    return result


def _stream_dump(
    database_url, out: BoundedPipe, sponsor, count_rows, custom_format, role_passwords
) -> DumpResult:
    import psycopg

    pg_dump = find_pg_dump()
    with passfile_environment(database_url) as (conninfo, env), ExitStack() as held:
        argv = [
            pg_dump,
            f"--format={'custom' if custom_format else 'plain'}",
            "--no-password",
            f"--dbname={conninfo}",
        ]
        try:  # the snapshot's connection stays open until pg_dump is done with it
            conn = held.enter_context(psycopg.connect(database_url, connect_timeout=10))
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            roles = read_roles(conn, sponsor, role_passwords)
        except psycopg.Error as exc:
            raise classify_failure(scrub(str(exc), database_url), 1, sponsor) from None
        argv.append(f"--snapshot={snapshot}")
        counter = _Background(count_table_rows, conn) if count_rows else None
        proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        _widen_pipe(proc.stdout)
        stderr = _Background(_read_tail, proc.stderr)
        try:
            size, head, tail = _copy_output(proc.stdout, out)
        except BaseException:
            proc.kill()  # a later stage failed: no one will read the rest
            raise
        finally:
            proc.stdout.close()
            proc.wait()
        if counter:
            counter.join()  # before the connection, and with it the snapshot, is closed
        stderr.join()
    stderr_text = scrub((stderr.value or b"").decode("utf-8", "replace").strip(), database_url)
    if proc.returncode != 0:  # pg_dump's own words first: they say why the count may have failed too
        raise classify_failure(stderr_text, proc.returncode, sponsor)
    complete = head.startswith(b"PGDMP") if custom_format else DUMP_TRAILER in tail
    if not complete:
        raise TransientError(
            f"pg_dump for sponsor {sponsor} exited cleanly but its output lacks the "
            "'dump complete' trailer, so the dump is treated as truncated and not uploaded."
        )
    if counter and counter.error is not None:
        raise classify_failure(scrub(str(counter.error), database_url), 1, sponsor) from None
    return DumpResult(size=size, table_counts=counter.value if counter else None, roles=roles)


def _copy_output(stdout, out: BoundedPipe) -> tuple[int, bytes, bytes]:
    """Move pg_dump's output into the pipe; return its size, first bytes and last bytes."""
    size, head, tail = 0, b"", b""
    while chunk := stdout.read(CHUNK):
        if size < _TRAILER_WINDOW:
            head = (head + chunk)[:_TRAILER_WINDOW]
        tail = (tail + chunk)[-_TRAILER_WINDOW:] if len(chunk) < _TRAILER_WINDOW else chunk[-_TRAILER_WINDOW:]
        size += len(chunk)
        out.put(chunk)
    return size, head, tail


def _widen_pipe(stream) -> None:
    """Let pg_dump run ahead by a chunk instead of 64 KiB (Linux only; elsewhere a no-op)."""
    try:
        fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), CHUNK)
    except OSError:
        pass  # capped by /proc/sys/fs/pipe-max-size for unprivileged users: the default still works


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
