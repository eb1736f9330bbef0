"""What a database holds and who may change it, read from its catalogue and never written.

A dump counts its rows in its own snapshot, a restore asks whether its target
is empty and whether the restoring user can take the backup's owners, and a
drill counts what the restore brought back. The queries live here together so
that "a user table" means the same thing to all three: schemas other than
``pg_catalog``, ``information_schema`` and the toast and temporary ones.

Contract: the functions that take a URL open their own connection through
``postgres.connected``, so their failures are its clauses ("counting the
tables of postgresql://...@host/db failed: ..."), transient when the server
may come back, and the caller adds the sponsor and the remedy. A missing
database or role is a permanent ``ArchivalError``, never an empty answer.
``count_table_rows`` takes an open connection instead: the dump's must be the
one holding pg_dump's snapshot, so its errors are the caller's to word.
"""

from __future__ import annotations

from dataclasses import dataclass

from hht_archival.adapters.postgres import connected, mask_url

_USER_SCHEMAS = """n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'"""

# Tables that hold rows: a partitioned table's rows are counted in its partitions.
_TABLES_WITH_ROWS = f"""
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND {_USER_SCHEMAS}
ORDER BY 1
"""  # noqa: S608 (constant text, no input)

# Any user table, partitioned ones too: what makes a restore target not empty.
_USER_TABLES = f"""
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND {_USER_SCHEMAS}
"""  # noqa: S608 (constant text, no input)


@dataclass(frozen=True)
class Standing:
    """The connected user on a target, and where it stands towards the roles a backup names."""

    user: str
    superuser: bool
    existing: frozenset[str]  # the named roles that exist there
    member_of: frozenset[str]  # the named roles the user is a member of (may act as)


def count_table_rows(conn) -> dict[str, int]:
    """Rows of every user table (``schema.table``), as the connection's transaction sees them.

    A failed count says which query failed on a second line, ``Query was: ...``, as
    pg_dump does: the server's "canceling statement due to lock timeout" names no
    table, and pg_failures.py reads both the same way to name it.
    """
    import psycopg

    counts = {}
    for table in [row[0] for row in conn.execute(_TABLES_WITH_ROWS)]:
        query = f"SELECT count(*) FROM {table}"  # noqa: S608 (a name quoted by quote_ident)
        try:
            counts[table] = conn.execute(query).fetchone()[0]
        except psycopg.Error as exc:
            raise type(exc)(f"{exc}\nQuery was: {query}") from exc
    return counts


def table_rows(url: str) -> dict[str, int]:
    """Rows of every user table of the database at ``url``, now."""
    with connected(url, f"counting the rows of {mask_url(url)}") as conn:
        return count_table_rows(conn)


def user_table_count(url: str) -> int:
    """How many user tables (partitioned ones included) the database at ``url`` holds."""
    with connected(url, f"counting the tables of {mask_url(url)}") as conn:
        return conn.execute(_USER_TABLES).fetchone()[0]


def standing(url: str, names: list[str]) -> Standing:
    """Who connects to ``url``, whether a superuser, and which of the roles ``names`` exist or are theirs."""
    with connected(url, f"reading the roles of {mask_url(url)}") as conn:
        user, superuser = conn.execute(
            "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        existing = {
            row[0] for row in conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (names,))
        }
        member_of = {
            row[0]
            for row in conn.execute(
                "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) AND pg_has_role(rolname, 'MEMBER')",
                (names,),
            )
        }
    return Standing(user, superuser, frozenset(existing), frozenset(member_of))
