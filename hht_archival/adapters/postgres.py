"""pg_dump, run without a shell, with the password in a private passfile and never in argv.

Contract: ``dump_database`` writes a complete plain-SQL dump to ``out_path``
or raises. A non-zero exit or a dump without pg_dump's closing trailer is an
error, so a truncated dump can never be mistaken for a backup. Failures that
waiting may cure (server unreachable, restarting) are ``TransientError``;
wrong passwords, missing databases and version mismatches are not.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from hht_archival.errors import ArchivalError, ConfigError, TransientError

DUMP_TRAILER = b"-- PostgreSQL database dump complete"
_TRAILER_WINDOW = 4096

_PERMANENT_PATTERNS = (
    (
        re.compile(r"password authentication failed|no password supplied|authentication failed", re.I),
        "the database rejected the credentials in DATABASE_URL; check the user and password",
    ),
    (
        re.compile(r"database \".*\" does not exist", re.I),
        "the database named in DATABASE_URL does not exist; check its name",
    ),
    (
        re.compile(r"role \".*\" does not exist", re.I),
        "the user named in DATABASE_URL does not exist; check the user name",
    ),
    (
        re.compile(r"server version mismatch|aborting because of server version mismatch", re.I),
        "pg_dump is older than the server; install the postgresql-client package of the "
        "server's major version",
    ),
    (
        re.compile(r"No space left on device|could not write to output file", re.I),
        "the work directory ran out of space; free space or point ARCHIVAL_WORK_DIR at a larger disk",
    ),
    (
        re.compile(r"permission denied", re.I),
        "the database user lacks permission to read every table; grant it read access or use a "
        "role that has it",
    ),
)
_TRANSIENT_PATTERNS = re.compile(
    r"could not connect|connection refused|connection to server .* failed|timeout expired|"
    r"could not translate host name|server closed the connection|terminating connection|"
    r"the database system is (starting up|shutting down|in recovery mode)|connection timed out",
    re.I,
)


@dataclass(frozen=True)
class DumpResult:
    path: Path
    size: int
    table_counts: dict[str, int] | None = None  # rows per table, in the dump's own snapshot


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


@contextmanager
def passfile_environment(database_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    """Yield a password-free conninfo and an environment whose PGPASSFILE holds the password.

    The passfile is created 0600 in a private directory and removed on exit;
    PGPASSWORD is cleared so a stray value in the caller's environment is not used.
    """
    try:
        params = conninfo_to_dict(database_url)
    except Exception:
        raise ConfigError(
            "DATABASE_URL is not a valid PostgreSQL connection string; use "
            "postgresql://USER:PASSWORD@HOST:PORT/DBNAME."
        ) from None
    password = params.pop("password", None)
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
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


def dump_database(
    database_url: str, out_path: Path, sponsor: str, count_rows: bool = True, custom_format: bool = False
) -> DumpResult:
    """Run ``pg_dump --format=plain`` into ``out_path`` and check the dump is complete.

    With ``count_rows``, a REPEATABLE READ transaction exports its snapshot, pg_dump
    dumps exactly that snapshot (``--snapshot``), and the rows of every table are
    counted in it while pg_dump runs: the counts describe the dump, not the
    database a moment later, so a restore drill can hold the restore to them.
    """
    import psycopg

    pg_dump = find_pg_dump()
    counts = None
    with passfile_environment(database_url) as (conninfo, env):
        argv = [
            pg_dump,
            f"--format={'custom' if custom_format else 'plain'}",
            "--no-password",
            f"--file={out_path}",
            f"--dbname={conninfo}",
        ]
        if not count_rows:
            proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False)
            stderr_bytes = proc.stderr
        else:
            try:
                conn = psycopg.connect(database_url, connect_timeout=10)
            except psycopg.Error as exc:
                raise _classify_failure(_scrub(str(exc), database_url), 1, sponsor) from None
            try:
                with conn:
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
                    proc = subprocess.Popen(
                        [*argv, f"--snapshot={snapshot}"],
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                    )
                    try:
                        counts = count_table_rows(conn)
                    finally:
                        stderr_bytes = proc.communicate()[1]  # the snapshot must outlive pg_dump
                    conn.rollback()
            except psycopg.Error as exc:
                raise _classify_failure(_scrub(str(exc), database_url), 1, sponsor) from None
    stderr = _scrub(stderr_bytes.decode("utf-8", "replace").strip(), database_url)
    if proc.returncode != 0:
        out_path.unlink(missing_ok=True)
        raise _classify_failure(stderr, proc.returncode, sponsor)
    size = out_path.stat().st_size
    if not (_is_custom_archive(out_path) if custom_format else _has_trailer(out_path, size)):
        out_path.unlink(missing_ok=True)
        raise TransientError(
            f"pg_dump for sponsor {sponsor} exited cleanly but its output lacks the "
            "'dump complete' trailer, so the dump is treated as truncated and not uploaded."
        )
    return DumpResult(path=out_path, size=size, table_counts=counts)


def _scrub(text: str, database_url: str) -> str:
    """Remove the password from pg_dump's words, should a server ever echo it."""
    try:
        password = conninfo_to_dict(database_url).get("password")
    except Exception:
        return text
    return text.replace(password, "***") if password else text


def _is_custom_archive(path: Path) -> bool:
    """pg_dump's custom format has no trailer; its exit status and its magic header are the checks."""
    with path.open("rb") as handle:
        return handle.read(5) == b"PGDMP"


def _has_trailer(path: Path, size: int) -> bool:
    with path.open("rb") as handle:
        handle.seek(max(0, size - _TRAILER_WINDOW))
        return DUMP_TRAILER in handle.read()


def _classify_failure(stderr: str, code: int, sponsor: str) -> ArchivalError:
    detail = _last_line(stderr) or f"exit status {code}"
    for pattern, remedy in _PERMANENT_PATTERNS:
        if pattern.search(stderr):
            detail = _matching_line(stderr, pattern) or detail
            return ArchivalError(f"pg_dump failed for sponsor {sponsor}: {remedy} ({detail}).")
    if _TRANSIENT_PATTERNS.search(stderr):
        return TransientError(
            f"pg_dump could not reach the database for sponsor {sponsor}: check that the server "
            f"in DATABASE_URL is running and reachable ({detail})."
        )
    if code < 0:
        return TransientError(
            f"pg_dump for sponsor {sponsor} was killed by signal {-code}; no dump was kept."
        )
    return ArchivalError(f"pg_dump failed for sponsor {sponsor} with exit status {code}: {detail}.")


def _matching_line(text: str, pattern: re.Pattern) -> str:
    """The line pg_dump said the problem on, without its connection preamble."""
    for line in text.splitlines():
        if pattern.search(line):
            return line.split("FATAL:", 1)[-1].strip().removeprefix("pg_dump: error: ")
    return ""


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1].removeprefix("pg_dump: error: ").removeprefix("pg_dump: ") if lines else ""
