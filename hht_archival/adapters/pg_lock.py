"""The archive lock: one run at a time per sponsor and environment, held in the sponsor's own PostgreSQL.

Why there: the lock must outlive no run, on one machine or many, with or
without a Prefect server. A session-level advisory lock lives exactly as long
as the database session that took it, and PostgreSQL ends that session when
the process holding it dies (its kernel closes the socket: the lock is free at
once) or when its machine or network is lost (the session's TCP keepalives,
set here from ``lease_seconds``: free within that lease). Every runner of a
sponsor reaches the same database, so the lock holds across workers, CI jobs
and machines alike. docs/design.md says why not Prefect's concurrency slots.

Contract of ``archive_lock``: it connects on a session of its own (never
pg_dump's), takes ``pg_try_advisory_lock(NAMESPACE, key)`` once a second until
it has it, saying at once and every ``NOTE_EVERY`` seconds which run holds it, and gives
up after ``wait_seconds`` with an ``ArchivalError`` naming the holder. A stop
(``hht_archival.stopping``) ends the wait at once. The holder describes itself
in the comment of the statement that took the lock, which
``pg_stat_activity.query`` shows to every session of the same role: that is
how a waiting run, ``doctor`` and a DBA see who holds it. On leaving, the lock
is released and the session closed; a session already lost is only reported,
since its lock went with it. Connection failures are the adapters' clause
(``connected``'s wording), transient when waiting may cure them.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from hht_archival import stopping
from hht_archival.adapters.pg_failures import connection_failure
from hht_archival.adapters.postgres import mask_url
from hht_archival.errors import ArchivalError

NAMESPACE = 0x48485441  # "HHTA": pg_locks.classid of every hht-archival lock
NOTE_EVERY = 30.0
POLL_SECONDS = 1.0
_MARK = "hht-archival-lock"
_SAFE = re.compile(r"[^A-Za-z0-9._:+-]")
_HOLDER = re.compile(_MARK + r"((?: \w+=\S+)*)")

_HOLDER_QUERY = """
SELECT a.pid, a.query, a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
  AND l.classid::bigint = %s AND l.objid::bigint = %s
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


class LockHeld(ArchivalError):
    """Another run held the lock for longer than this run would wait; the message names it."""


def lock_key(sponsor: str, environment: str) -> int:
    """A stable 31-bit key for (sponsor, environment): pg_locks shows it unsigned, as taken."""
    digest = hashlib.sha256(f"archive-{sponsor}-{environment}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class Holder:
    """Who holds (or wants) the lock, as a waiting run or doctor shows it."""

    run: str = "?"  # the flow run's name
    run_id: str = "?"
    host: str = "?"
    pid: str = "?"
    started: str = "?"
    session_pid: int | None = None  # the database session holding the lock: what a DBA would end

    def comment(self) -> str:
        fields = {
            "run": self.run,
            "run_id": self.run_id,
            "host": self.host,
            "pid": self.pid,
            "started": self.started,
        }
        return _MARK + "".join(f" {name}={_SAFE.sub('_', value) or '?'}" for name, value in fields.items())

    def describe(self) -> str:
        where = f"on host {self.host} (pid {self.pid}), started at {self.started}"
        return f"run {self.run} ({self.run_id}) {where}"


def _holder_from(query: str | None, session_pid: int) -> Holder:
    match = _HOLDER.search(query or "")
    fields = dict(item.split("=", 1) for item in match.group(1).split()) if match else {}
    known = {name: fields[name] for name in ("run", "run_id", "host", "pid", "started") if name in fields}
    return Holder(**known, session_pid=session_pid)


def session_settings(lease_seconds: float) -> dict[str, str]:
    """The server-side limits that bound how long a lost machine's session (and so its lock) lives.

    Keepalives end an idle session whose peer stopped answering; the user
    timeout ends one with bytes still unacknowledged (a reply sent just as the
    machine vanished), which TCP would otherwise retransmit for about 15 minutes.
    """
    lease = max(int(lease_seconds), 3)
    idle, interval = max(lease // 2, 1), max(lease // 6, 1)
    return {
        "tcp_keepalives_idle": str(idle),
        "tcp_keepalives_interval": str(interval),
        "tcp_keepalives_count": "3",
        "tcp_user_timeout": str(lease * 1000),  # milliseconds
        "idle_session_timeout": "0",  # a server-wide idle limit must not end the lock's session
    }


@contextmanager
def archive_lock(
    database_url: str,
    sponsor: str,
    environment: str,
    *,
    wait_seconds: float,
    lease_seconds: float,
    holder: Holder,
    say: Callable[..., None],
) -> Iterator[None]:
    """Hold the sponsor's archive lock inside the block (see the module's contract)."""
    key = lock_key(sponsor, environment)
    whose = f"sponsor {sponsor} ({environment})"
    conn = _lock_session(database_url, whose, lease_seconds)
    try:
        _wait_for_lock(conn, key, whose, wait_seconds, holder, say)
        yield
    finally:
        _release(conn, key, whose, say)


def read_holder(database_url: str, sponsor: str, environment: str) -> Holder | None:
    """The run holding the sponsor's lock now, or None when it is free (for doctor)."""
    import psycopg

    try:
        with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
            return _current_holder(conn, lock_key(sponsor, environment))
    except psycopg.Error as exc:
        doing = f"reading the archive lock on {mask_url(database_url)}"
        raise connection_failure(doing, str(exc), database_url) from None


def _lock_session(database_url: str, whose: str, lease_seconds: float):
    import psycopg

    lease = max(int(lease_seconds), 3)
    try:
        conn = psycopg.connect(
            database_url,
            autocommit=True,
            connect_timeout=10,
            application_name="hht-archival lock",
            keepalives=1,  # this side notices a lost server too
            keepalives_idle=max(lease // 2, 1),
            keepalives_interval=max(lease // 6, 1),
            keepalives_count=3,
        )
    except psycopg.Error as exc:
        raise connection_failure(f"connecting to {mask_url(database_url)}", str(exc), database_url) from None
    for name, value in session_settings(lease_seconds).items():
        try:
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        except psycopg.Error:
            pass  # an older server without the setting (tcp_user_timeout is 12+, idle_session_timeout 14+)
    return conn


def _wait_for_lock(conn, key: int, whose: str, wait_seconds: float, holder: Holder, say) -> None:
    import psycopg

    started = time.monotonic()
    next_note = started  # at once, then every NOTE_EVERY: a waiting run is never silent
    statement = f"SELECT pg_try_advisory_lock(%s, %s) /* {holder.comment()} */"
    while True:
        try:
            if conn.execute(statement, (NAMESPACE, key)).fetchone()[0]:
                return
            other = _current_holder(conn, key)
        except psycopg.Error as exc:
            raise connection_failure("asking for the archive lock", str(exc), "") from None
        waited = time.monotonic() - started
        if waited >= wait_seconds:
            raise LockHeld(_held_too_long(whose, wait_seconds, other))
        if time.monotonic() >= next_note:
            seen = other.describe() if other else "a run that has just ended"
            say(
                "Waiting for the archive lock of %s: held by %s; waited %.0f s of %.0f s.",
                whose,
                seen,
                waited,
                wait_seconds,
            )
            next_note += NOTE_EVERY
        stopping.sleep(min(POLL_SECONDS, max(wait_seconds - waited, 0.05)))


def _held_too_long(whose: str, wait_seconds: float, other: Holder | None) -> str:
    if other is None:
        return (
            f"Another run of {whose} held the archive lock for more than {wait_seconds:.0f} s; wait for it "
            "to finish and run again, or raise ARCHIVAL_LOCK_TIMEOUT_SECONDS."
        )
    return (
        f"Another run of {whose} ({other.describe()}) held the archive lock for more than "
        f"{wait_seconds:.0f} s; wait for it to finish and run again, or raise ARCHIVAL_LOCK_TIMEOUT_SECONDS "
        f"(if that run is gone, its lock ends with its database session: SELECT pg_terminate_backend"
        f"({other.session_pid}))."
    )


def _current_holder(conn, key: int) -> Holder | None:
    row = conn.execute(_HOLDER_QUERY, (NAMESPACE, key)).fetchone()
    return _holder_from(row[1], row[0]) if row else None


def _release(conn, key: int, whose: str, say) -> None:
    import psycopg

    try:
        conn.execute("SELECT pg_advisory_unlock(%s, %s)", (NAMESPACE, key))
    except psycopg.Error as exc:
        say(
            "The archive lock's database session of %s ended during the run (%s); its lock went with it, "
            "so another run may have overlapped this one (verify --logs shows such a fork).",
            whose,
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
        )
    finally:
        conn.close()
