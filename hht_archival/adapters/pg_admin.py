"""A scratch server's life cycle: is it there, make a throwaway database on it, and leave no trace.

A drill restores into a database made for it and drops it afterwards, with
the roles its restore created; the demo first checks that there is a server
to dump at all. These are the only statements that change a server outside a
restore's own transaction, so they are kept together and kept few.

Contract (failures are ``postgres.connected``'s clauses: what was being done
and on which masked URL, then what the server said; ``TransientError`` when
the server is unreachable or restarting, ``ArchivalError`` otherwise; the
caller adds the sponsor and the remedy):

- ``probe`` raises unless a connection can be opened; it changes nothing.
- ``create_database`` fails if the name is taken or the user may not create
  databases; it never reuses an existing database.
- ``drop_database`` is idempotent: a database already gone is not an error,
  and sessions still connected to it are ended (``WITH (FORCE)``). A role
  that cannot be dropped because something else still depends on it (a
  concurrent drill's restore) is left in place and missing from the returned
  list, not raised: leaving it is safe, failing the drill for it is not.
"""

from __future__ import annotations

from psycopg import sql

from hht_archival.adapters.postgres import connected, database_url, mask_url


def probe(url: str, timeout: int = 5) -> None:
    """Open and close one connection to ``url``."""
    with connected(url, f"connecting to {mask_url(url)}", timeout=timeout):
        pass


def create_database(admin_url: str, name: str) -> str:
    """Create the empty database ``name`` on ``admin_url``'s server; return the URL that reaches it."""
    with connected(admin_url, f"creating database {name} on {mask_url(admin_url)}", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(admin_url, name)


def drop_database(admin_url: str, name: str, roles: list[str]) -> list[str]:
    """Drop database ``name``, then each of ``roles``; return the roles dropped."""
    import psycopg

    with connected(admin_url, f"dropping database {name} on {mask_url(admin_url)}", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        dropped = []
        for role in roles:
            try:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
                dropped.append(role)
            except psycopg.Error:
                pass  # objects of a concurrent drill depend on it; the report shows it was not dropped
    return dropped
