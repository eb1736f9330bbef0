"""Reaching PostgreSQL: the connection string, its password, and the client tools.

Every adapter that talks to a server starts here, so that a URL is masked the
same way in every log line, a password never reaches argv or a child's
environment, and a failure on a connection is worded the same way wherever it
happens.

Contract of ``connected``: it yields a psycopg connection and turns any
psycopg error, on connecting or on a statement run in its block, into one
clause naming what was being done, where (the masked URL) and why (what the
server or libpq said, password removed). It is a ``TransientError`` when
waiting may cure it (the server unreachable, starting up, shutting down),
otherwise an ``ArchivalError``: a missing database or role, wrong credentials
and refused privileges are permanent. The clause starts in lower case: the
caller adds whose work it was (the sponsor) and the remedy, and makes the
sentence.

``ARCHIVAL_PG_DUMP`` is read here, at the moment the binary is looked up, and
not through ``ArchivalSettings``: like ``PATH``, it describes the machine the
runner is on (which of several installed pg_dump versions to run), not a
sponsor, so it has no place in a sponsor's configuration; ``doctor`` and the
dump both find the binary through ``find_pg_dump``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from hht_archival.adapters.pg_failures import connection_failure
from hht_archival.errors import ConfigError


@contextmanager
def connected(url: str, doing: str, *, autocommit: bool = False, timeout: int = 10) -> Iterator:
    """A connection to ``url``; a psycopg error in the block fails as ``doing`` (see the contract above)."""
    import psycopg

    try:
        with psycopg.connect(url, autocommit=autocommit, connect_timeout=timeout) as conn:
            yield conn
    except psycopg.Error as exc:
        raise connection_failure(doing, str(exc), url) from None


def database_url(url: str, dbname: str) -> str:
    """``url`` with its database replaced by ``dbname`` (same server, user and password)."""
    return make_conninfo(**{**conninfo_to_dict(url), "dbname": dbname})


def same_database(a: str, b: str) -> bool:
    """Whether two connection strings name the same database on the same server (libpq's defaults)."""

    def key(url: str):
        p = conninfo_to_dict(url)
        return (p.get("host") or "localhost", str(p.get("port") or "5432"), p.get("dbname"))

    try:
        return key(a) == key(b)
    except Exception:
        return False


def mask_url(url: str) -> str:
    """Return a connection string fit for logs: the password replaced by ``***``."""
    try:
        params = conninfo_to_dict(url)
    except Exception:
        return "<unparseable DATABASE_URL>"
    if "password" in params:
        params["password"] = "***"  # noqa: S105 (the mask, not a password)
    return make_conninfo(**params)


def url_problem(url: str) -> str | None:
    """What makes ``url`` unusable before any connection is tried, as a clause, or None when it parses.

    libpq reads a bad port only when it connects, and its words for a bad
    string quote the string; this clause quotes nothing of ``url``, since a
    malformed URL may hold its password anywhere.
    """
    try:
        params = conninfo_to_dict(url)
    except Exception:
        return "it is not a PostgreSQL connection string"
    for port in str(params.get("port") or "").split(","):
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            return "its port is not a number from 1 to 65535"
    return None


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
    line = subprocess.run(  # like the dump itself, without the runner's keys and other tenants' URLs
        [pg_dump, "--version"],
        env=pg_dump_environment(os.environ),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", line)
    if not match:
        raise ConfigError(f"Could not read the version of {pg_dump} from {line!r}; is it pg_dump?")
    return int(match.group(1)), line


def server_version(database_url: str) -> tuple[int, str]:
    """The server's major version and its version string (connects with the URL's own password)."""
    with connected(database_url, f"connecting to {mask_url(database_url)}", timeout=5) as conn:
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


# libpq's limits for a client tool's connection: give up on a server that does not answer within
# 10 s, and notice one that vanished mid-dump (no FIN, e.g. a failover or a cut network) after about
# 30 + 3 x 10 s of silence instead of waiting on the socket for the kernel's two hours.
BOUNDED_CONNECTION = {
    "connect_timeout": "10",
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
}


def bounded(params: dict) -> dict:
    """``params`` with ``BOUNDED_CONNECTION``'s limits wherever the URL does not set its own."""
    return {**BOUNDED_CONNECTION, **params}


@contextmanager
def passfile_environment(database_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    """Yield a password-free conninfo and an environment whose PGPASSFILE holds the password.

    The passfile is created 0600 in a private directory and removed on exit;
    the environment is ``pg_dump_environment``'s, so no other secret reaches pg_dump.
    The conninfo carries ``BOUNDED_CONNECTION``'s connect timeout and TCP keepalives
    (where the URL sets none), so pg_dump and psql cannot wait on a gone server forever.
    """
    try:
        params = conninfo_to_dict(database_url)
    except Exception:
        raise ConfigError(
            "DATABASE_URL is not a valid PostgreSQL connection string; use "
            "postgresql://USER:PASSWORD@HOST:PORT/DBNAME."
        ) from None
    password = params.pop("password", None)
    params = bounded(params)
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
