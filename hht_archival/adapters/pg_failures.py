"""What PostgreSQL's failures mean: one sentence each, marked retryable only when waiting may help.

Kept apart from the adapters that run pg_dump (pg_dump.py) and open
connections (postgres.py) so that the patterns, the part most often extended,
read on their own and are the same for both. Wrong passwords, missing
databases and version mismatches are permanent; an unreachable or restarting
server is a ``TransientError``. The password is removed from anything pg_dump
or the server said before it reaches a message.
"""

from __future__ import annotations

import re

from psycopg.conninfo import conninfo_to_dict

from hht_archival.errors import ArchivalError, TransientError

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


def scrub(text: str, database_url: str) -> str:
    """Remove the password from pg_dump's words, should a server ever echo it."""
    try:
        password = conninfo_to_dict(database_url).get("password")
    except Exception:
        return text
    return text.replace(password, "***") if password else text


def connection_failure(doing: str, said: str, database_url: str) -> ArchivalError:
    """``doing`` failed, for the reason libpq or the server ``said``: a clause for the caller's sentence."""
    text = scrub(said, database_url)
    permanent = any(pattern.search(text) for pattern, _ in _PERMANENT_PATTERNS)
    kind = TransientError if _TRANSIENT_PATTERNS.search(text) and not permanent else ArchivalError
    return kind(f"{doing} failed: {_reason(text)}")


def classify_failure(stderr: str, code: int, sponsor: str) -> ArchivalError:
    detail = _last_line(stderr) or f"exit status {code}"
    for pattern, remedy in _PERMANENT_PATTERNS:
        if pattern.search(stderr):
            detail = _matching_line(stderr, pattern) or detail
            return ArchivalError(f"pg_dump failed for sponsor {sponsor}: {remedy} ({detail}).")
    if _TRANSIENT_PATTERNS.search(stderr):
        detail = _matching_line(stderr, _TRANSIENT_PATTERNS) or detail
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


def _reason(text: str) -> str:
    """The server's own words, without libpq's "connection to server at ... failed:" preamble."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "no reason given")
    return first.split("FATAL:", 1)[-1].rsplit(" failed: ", 1)[-1].strip()


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1].removeprefix("pg_dump: error: ").removeprefix("pg_dump: ") if lines else ""
