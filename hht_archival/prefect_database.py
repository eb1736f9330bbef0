"""The team Prefect server's own database on PostgreSQL: checked, created when missing, named for Prefect.

Why PostgreSQL: Prefect's server on SQLite takes one writer at a time, and a
nightly with many sponsors on several workers writes at once; it answered
503 "database is locked" in half the fleet's runs before a workaround. Prefect
supports PostgreSQL through SQLAlchemy and asyncpg; what a platform team lacks
is the URL in the form Prefect wants and a database to point it at, so
``hht-archival server`` takes the libpq URL they already use for the sponsors'
databases (``ARCHIVAL_PREFECT_DATABASE_URL``), creates the database if it is
missing, and hands Prefect ``postgresql+asyncpg://...`` in its environment
(never on a command line, which every user of the machine can read).

A password may be in the URL or, as for every other connection here, in
~/.pgpass (asyncpg reads it as libpq does).
"""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict

from hht_archival.adapters.pg_admin import create_database, probe
from hht_archival.adapters.pg_failures import names_a_missing_database
from hht_archival.adapters.postgres import database_url, mask_url, url_problem
from hht_archival.errors import ArchivalError, ConfigError

SETTING = "ARCHIVAL_PREFECT_DATABASE_URL"
PREFECT_SETTING = "PREFECT_SERVER_DATABASE_CONNECTION_URL"


def prepared(url: str) -> str:
    """Check ``url``, create its database when it does not exist; return the URL for Prefect.

    Raises ConfigError (a bad URL) or ArchivalError (the server refused or did not answer) with
    one sentence that says what to do.
    """
    problem = url_problem(url)
    params = conninfo_to_dict(url) if problem is None else {}
    if problem is None and not params.get("dbname"):
        problem = "it names no database"
    if problem:
        raise ConfigError(
            f"{SETTING} is not usable: {problem}; set it to postgresql://USER@HOST:PORT/DATABASE "
            "(the password in ~/.pgpass or in the URL), or unset it to run the server on SQLite."
        )
    try:
        probe(url)
    except ArchivalError as exc:
        if not names_a_missing_database(str(exc)):
            raise ArchivalError(f"The Prefect server's database could not be reached: {exc}") from None
        try:
            create_database(database_url(url, "postgres"), params["dbname"])
        except ArchivalError as refused:
            raise ArchivalError(
                f"The Prefect server's database {params['dbname']} does not exist and could not be created "
                f"({refused}); create it (createdb {params['dbname']}) or give the role CREATEDB."
            ) from None
    return for_prefect(url)


def for_prefect(url: str) -> str:
    """``url`` (libpq form) as Prefect's SQLAlchemy URL for asyncpg."""
    from sqlalchemy.engine import URL

    params = conninfo_to_dict(url)
    host = params.get("host") or "localhost"
    query = {}
    if host.startswith("/"):  # a Unix socket directory: asyncpg takes it as the host query parameter
        query, host = {"host": host}, None
    return URL.create(
        "postgresql+asyncpg",
        username=params.get("user"),
        password=params.get("password"),
        host=host,
        port=int(params["port"]) if params.get("port") else None,
        database=params["dbname"],
        query=query,
    ).render_as_string(hide_password=False)


def described(url: str) -> str:
    """Where the server keeps its state, for the line it prints on start (no password)."""
    return f"PostgreSQL ({mask_url(url)})"
