"""What PostgreSQL's failures mean: one sentence each, marked retryable only when waiting may help.

Kept apart from the adapters that run pg_dump (pg_dump.py) and open
connections (postgres.py) so that the patterns, the part most often extended,
read on their own and are the same for both. Wrong passwords, missing
databases and version mismatches are permanent; an unreachable or restarting
server, and a table lock held longer than the dump may wait, are a
``TransientError``. The password is removed from anything pg_dump or the
server said before it reaches a message.
"""

from __future__ import annotations

import re

from psycopg.conninfo import conninfo_to_dict

from hht_archival.errors import ArchivalError, TransientError

_MISSING_DATABASE = re.compile(r"database \".*\" does not exist", re.I)
_PERMANENT_PATTERNS = (
    (
        re.compile(r"password authentication failed|no password supplied|authentication failed", re.I),
        "the database rejected the credentials in DATABASE_URL; check the user and password",
    ),
    (
        _MISSING_DATABASE,
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
# The dump waited too long for a table's lock. pg_dump's --lock-wait-timeout runs its LOCK TABLE
# under statement_timeout, so pg_dump 15 says "statement timeout"; the row counts run under
# lock_timeout. Only those two queries count: a statement timeout elsewhere is not a lock wait.
_LOCK_WAIT = re.compile(r"canceling statement due to (lock|statement) timeout", re.I)
_LOCKING = re.compile(r"Query was: LOCK TABLE (.+?) IN ACCESS SHARE MODE\s*$", re.M)
_COUNTING = re.compile(r"Query was: SELECT count\(\*\) FROM (.+?)\s*$", re.M)


def names_a_missing_database(text: str) -> bool:
    """Whether a connection failed because its database does not exist (not its role, not its server)."""
    return bool(_MISSING_DATABASE.search(text))


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


def classify_failure(
    stderr: str, code: int, sponsor: str, lock_wait_seconds: float | None = None
) -> ArchivalError:
    """One sentence for what pg_dump (or the dump's snapshot connection) said, and whether to retry.

    ``lock_wait_seconds`` is how long the dump was allowed to wait for a table's
    lock (ARCHIVAL_TABLE_LOCK_WAIT_SECONDS), named in the sentence when that wait ran out.
    """
    table = _lock_wait_table(stderr)
    if table is not None:
        return lock_wait_failure(sponsor, table, lock_wait_seconds)
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


def lock_wait_failure(sponsor: str, table: str, seconds: float | None) -> TransientError:
    """The dump gave up waiting for ``table``'s lock: transient, because the lock is someone else's.

    Why retried: the session holding the lock is another's (a migration, VACUUM FULL,
    a forgotten open transaction) and usually ends; the task retry policy tries again
    after its backoff, each attempt waiting at most ``seconds`` more, which costs the
    database little (meanwhile pg_dump holds ACCESS SHARE locks: they delay only DDL).
    A lock that is never released fails the run once the retries are spent, with this
    sentence, which says how to find the session.
    """
    waited = f"more than {seconds:g} s" if seconds is not None else "longer than it may"
    # A query for the person reading the sentence; nothing here runs it.
    who = "SELECT pid, mode, granted, query FROM pg_locks JOIN pg_stat_activity USING (pid) WHERE relation = "
    who += "'" + table.replace("'", "''") + "'::regclass"
    return TransientError(
        f"pg_dump for sponsor {sponsor} waited {waited} for a lock on table {table}, held or awaited by "
        f"another session (a migration, VACUUM FULL); find it with {who}, then run again once it is done, "
        "or raise ARCHIVAL_TABLE_LOCK_WAIT_SECONDS."
    )


def _lock_wait_table(text: str) -> str | None:
    """The table the dump gave up waiting for, or None when ``text`` is not that failure."""
    said = _LOCK_WAIT.search(text)
    if said is None:
        return None
    if locking := _LOCKING.search(text):
        return locking.group(1)
    counting = _COUNTING.search(text)
    return counting.group(1) if counting and said.group(1).lower() == "lock" else None


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
