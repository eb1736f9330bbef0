"""The roles a database refers to, read in the dump's own snapshot: what pg_dump leaves out.

Why a catalogue query and not ``pg_dumpall --roles-only``: pg_dumpall dumps
every role of the cluster (other tenants' too), needs a superuser for some of
it, and runs in a session of its own, at another moment than the dump. This
query runs on the connection whose REPEATABLE READ snapshot pg_dump dumps
(``--snapshot``), so it sees the roles of exactly the objects dumped, and
only those: the roles recorded in ``pg_shdepend`` for this database (owners of
its objects, grantees and grantors in their ACLs and default ACLs, roles named
by row-security policies: what ``DROP ROLE`` itself consults), plus the direct
owners of schemas, relations, routines, types and large objects and the
database's owner, which also catches the bootstrap superuser (a pinned role,
absent from ``pg_shdepend``). Memberships are kept among those roles only.
Predefined roles (``pg_*``) exist on every cluster and are left out.

Any user can read this (``pg_roles``, not ``pg_authid``). Password hashes are
read only when asked: they need ``pg_authid``, i.e. a superuser, and asking
without that right is refused in one sentence rather than silently skipped.
"""

from __future__ import annotations

from dataclasses import replace

from hht_archival.errors import ConfigError
from hht_archival.roles import DatabaseRoles, Membership, Role

_REFERENCED_ROLES = r"""
WITH here AS (SELECT oid, datdba FROM pg_database WHERE datname = current_database()),
user_ns AS (
    SELECT oid FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema')
      AND nspname NOT LIKE 'pg\_toast%' AND nspname NOT LIKE 'pg\_temp%'
),
refs (role, how) AS (
    SELECT d.refobjid,
           CASE d.deptype WHEN 'o' THEN 'owner' WHEN 'r' THEN 'policy' ELSE 'privileges' END
      FROM pg_shdepend d, here
     WHERE d.dbid = here.oid AND d.refclassid = 'pg_authid'::regclass
    UNION SELECT datdba, 'database owner' FROM here
    UNION SELECT nspowner, 'owner' FROM pg_namespace WHERE oid IN (SELECT oid FROM user_ns)
    UNION SELECT relowner, 'owner' FROM pg_class WHERE relnamespace IN (SELECT oid FROM user_ns)
    UNION SELECT proowner, 'owner' FROM pg_proc WHERE pronamespace IN (SELECT oid FROM user_ns)
    UNION SELECT typowner, 'owner' FROM pg_type WHERE typnamespace IN (SELECT oid FROM user_ns)
    UNION SELECT lomowner, 'owner' FROM pg_largeobject_metadata
)
SELECT r.rolname, r.rolcanlogin, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb,
       r.rolreplication, r.rolbypassrls, r.rolconnlimit,
       CASE WHEN r.rolvaliduntil IS NULL THEN NULL
            WHEN r.rolvaliduntil = 'infinity' THEN 'infinity'
            ELSE to_char(r.rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS+00') END,
       coalesce(r.rolconfig, '{}'),
       array_agg(DISTINCT refs.how ORDER BY refs.how)
  FROM refs JOIN pg_roles r ON r.oid = refs.role
 WHERE r.rolname NOT LIKE 'pg\_%'
 GROUP BY r.oid, r.rolname, r.rolcanlogin, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb,
          r.rolreplication, r.rolbypassrls, r.rolconnlimit, r.rolvaliduntil, r.rolconfig
 ORDER BY r.rolname
"""

_MEMBERSHIPS = """
SELECT r.rolname, m.rolname, bool_or(a.admin_option)
  FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
 WHERE r.rolname = ANY(%(names)s) AND m.rolname = ANY(%(names)s)
 GROUP BY r.rolname, m.rolname
 ORDER BY 1, 2
"""

_PASSWORDS = "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%(names)s)"


def read_roles(conn, sponsor: str, with_passwords: bool = False) -> DatabaseRoles:
    """The roles ``conn``'s database refers to, as its transaction's snapshot sees them."""
    database = conn.execute("SELECT current_database()").fetchone()[0]
    roles = [
        Role(
            name=row[0],
            login=row[1],
            superuser=row[2],
            inherit=row[3],
            createrole=row[4],
            createdb=row[5],
            replication=row[6],
            bypassrls=row[7],
            connection_limit=row[8],
            valid_until=row[9],
            settings=tuple(row[10]),
            referenced_as=tuple(row[11]),
        )
        for row in conn.execute(_REFERENCED_ROLES)
    ]
    names = [role.name for role in roles]
    memberships = tuple(
        Membership(role=row[0], member=row[1], admin_option=row[2])
        for row in conn.execute(_MEMBERSHIPS, {"names": names})
    )
    if with_passwords:
        roles = _with_password_hashes(conn, roles, sponsor)
    return DatabaseRoles(database, tuple(roles), memberships, password_hashes=with_passwords)


def _with_password_hashes(conn, roles: list[Role], sponsor: str) -> list[Role]:
    # Asked before reading: a refused SELECT would abort the snapshot's transaction under pg_dump.
    if not conn.execute("SELECT has_table_privilege('pg_catalog.pg_authid', 'SELECT')").fetchone()[0]:
        raise ConfigError(
            f"ARCHIVAL_ROLE_PASSWORDS is on for sponsor {sponsor}, but the user in DATABASE_URL cannot "
            "read role password hashes (pg_authid needs a superuser); dump as a superuser, or unset "
            "ARCHIVAL_ROLE_PASSWORDS to archive the roles without them."
        )
    hashes = dict(conn.execute(_PASSWORDS, {"names": [role.name for role in roles]}).fetchall())
    return [replace(role, password_hash=hashes.get(role.name)) for role in roles]
