"""doctor's rows for PostgreSQL: can the sponsor's database be reached, and can this pg_dump dump it.

pg_dump refuses a server newer than itself, which shows only on the first
enabled night unless it is checked here; each ❌ row names the package to install.
"""

from __future__ import annotations

from blocks.config import SponsorConfig
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
    if dump_major < server_major:
        add(
            "pg_dump",
            "fail",
            f"{dump_line} is older than the server ({server_major}) and will refuse to dump it",
            f"apt-get install postgresql-client-{server_major} (or set ARCHIVAL_PG_DUMP to its pg_dump)",
        )
    else:
        add("pg_dump", "ok", dump_line)
