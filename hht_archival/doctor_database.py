"""doctor's rows for PostgreSQL: can the sponsor's database be reached, can this pg_dump dump it, and
is the sponsor's archive lock (held in that database, adapters/pg_lock.py) free.

pg_dump refuses a server newer than itself, which shows only on the first
enabled night unless it is checked here; each ❌ row names the package to install.
"""

from __future__ import annotations

from blocks.config import SponsorConfig
from hht_archival.adapters.pg_lock import read_holder
from hht_archival.adapters.postgres import find_pg_dump, pg_dump_version, server_version
from hht_archival.errors import ArchivalError


def check_database(config: SponsorConfig, add) -> None:
    """The server answers DATABASE_URL, and pg_dump is there and not older than the server."""
    try:
        pg_dump = find_pg_dump()
        dump_major, dump_line = pg_dump_version(pg_dump)
    except ArchivalError as exc:
        add("pg_dump", "fail", str(exc), "apt-get install postgresql-client")
        return
    if config.database_url is None:
        add("pg_dump", "ok", dump_line)
        return
    try:
        server_major, server_text = server_version(config.database_url.get_secret_value())
    except ArchivalError as exc:  # the adapter's clause: where, and what the server or libpq said
        add("database", "fail", str(exc), "check DATABASE_URL and that the server is reachable")
        add("pg_dump", "ok", dump_line)
        return
    add("database", "ok", f"PostgreSQL {server_text}")
    _check_archive_lock(config, add)
    if dump_major < server_major:
        add(
            "pg_dump",
            "fail",
            f"{dump_line} is older than the server ({server_major}) and will refuse to dump it",
            f"apt-get install postgresql-client-{server_major} (or set ARCHIVAL_PG_DUMP to its pg_dump)",
        )
    else:
        add("pg_dump", "ok", dump_line)


def _check_archive_lock(config: SponsorConfig, add) -> None:
    """Who holds the sponsor's archive lock now: a run would wait for it (ARCHIVAL_LOCK_TIMEOUT_SECONDS)."""
    try:
        holder = read_holder(config.database_url.get_secret_value(), config.sponsor, config.environment)
    except ArchivalError as exc:
        add("archive lock", "warn", f"not read: {exc}")
        return
    if holder is None:
        add("archive lock", "ok", "free")
        return
    add(
        "archive lock",
        "warn",
        f"held by {holder.describe()}, so a run now would wait for it; if that run is gone, end its "
        f"database session: SELECT pg_terminate_backend({holder.session_pid})",
    )
