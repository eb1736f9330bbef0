"""The roles a backup needs besides itself: what they are, how they are stored, how they are created.

pg_dump writes ``ALTER TABLE ... OWNER TO app`` and ``GRANT SELECT ... TO reader``
but not the roles themselves, so a dump restores only where they already exist.
Each archive therefore stores, beside the backup, a small JSON object (the
*roles object*) with the roles the database's objects refer to: their names and
attributes, which of them owns something, and the memberships among them. It
is JSON rather than a SQL script because restoring must decide role by role
(create it, or leave an existing one as it is, and say which), and builds its
statements from these fields with proper quoting; the ``sql`` field still holds
a ready script, so the object serves a person with only ``psql``, years on.

Password hashes are kept only when asked (ARCHIVAL_ROLE_PASSWORDS); the object
then says ``"password_hashes": true`` and must be guarded like a secret.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields

from psycopg import sql

DOCUMENT_KIND = "database-roles"
DOCUMENT_VERSION = 1
OWNER = "owner"


@dataclass(frozen=True)
class Role:
    """One role as ``CREATE ROLE`` knows it; ``referenced_as`` says why the database needs it."""

    name: str
    login: bool = False
    superuser: bool = False
    inherit: bool = True
    createrole: bool = False
    createdb: bool = False
    replication: bool = False
    bypassrls: bool = False
    connection_limit: int = -1
    valid_until: str | None = None
    settings: tuple[str, ...] = ()  # ALTER ROLE ... SET, recorded for the reader, not re-applied
    referenced_as: tuple[str, ...] = ()  # owner, privileges, policy, database owner
    password_hash: str | None = field(default=None, repr=False)

    @property
    def owns_objects(self) -> bool:
        return OWNER in self.referenced_as


@dataclass(frozen=True)
class Membership:
    role: str
    member: str
    admin_option: bool = False


@dataclass(frozen=True)
class DatabaseRoles:
    """The roles object's content: what a database refers to, read in the dump's own snapshot."""

    database: str
    roles: tuple[Role, ...]
    memberships: tuple[Membership, ...] = ()
    password_hashes: bool = False

    @property
    def names(self) -> list[str]:
        return [role.name for role in self.roles]

    def document(self, *, sponsor: str, environment: str, timestamp: str, backup_key: str) -> bytes:
        """The bytes stored in S3 (their SHA-256 goes to the tags and the deployment log)."""
        roles = []
        for role in self.roles:
            entry = asdict(role)
            if not self.password_hashes:
                entry.pop("password_hash")
            roles.append(entry)
        body = {
            "schema_version": DOCUMENT_VERSION,
            "kind": DOCUMENT_KIND,
            "sponsor": sponsor,
            "environment": environment,
            "timestamp": timestamp,
            "backup": backup_key,
            "database": self.database,
            "password_hashes": self.password_hashes,
            "roles": roles,
            "memberships": [asdict(m) for m in self.memberships],
            "sql": creation_script(self.roles, self.memberships),
        }
        return (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def from_document(cls, raw: bytes) -> DatabaseRoles:
        body = json.loads(raw)
        if body.get("kind") != DOCUMENT_KIND:
            raise ValueError(f"not a roles object (kind {body.get('kind')!r})")
        known = {f.name for f in fields(Role)}  # a later version's extra fields are ignored, not fatal
        roles = tuple(
            Role(
                **{
                    **{k: v for k, v in entry.items() if k in known},
                    "settings": tuple(entry.get("settings") or ()),
                    "referenced_as": tuple(entry.get("referenced_as") or ()),
                }
            )
            for entry in body["roles"]
        )
        memberships = tuple(Membership(**m) for m in body.get("memberships", []))
        return cls(body["database"], roles, memberships, bool(body.get("password_hashes")))


def create_statements(
    roles: Iterable[Role], memberships: Iterable[Membership], *, login: bool = False
) -> list[str]:
    """``CREATE ROLE`` for each role (NOLOGIN unless ``login``), then ``GRANT`` for each membership.

    Every archived attribute is kept but LOGIN: a role created to own a restored
    database on a scratch or recovery server should not open a way in until
    someone decides so (``login`` keeps the archived LOGIN, and a password hash
    if one was archived, for a recovery that must let the application connect).
    """
    statements = []
    for role in roles:
        options = [
            "SUPERUSER" if role.superuser else "NOSUPERUSER",
            "CREATEDB" if role.createdb else "NOCREATEDB",
            "CREATEROLE" if role.createrole else "NOCREATEROLE",
            "INHERIT" if role.inherit else "NOINHERIT",
            "LOGIN" if login and role.login else "NOLOGIN",
            "REPLICATION" if role.replication else "NOREPLICATION",
            "BYPASSRLS" if role.bypassrls else "NOBYPASSRLS",
        ]
        parts = [
            sql.SQL("CREATE ROLE {} WITH ").format(sql.Identifier(role.name)),
            sql.SQL(" ".join(options)),
        ]
        if role.connection_limit != -1:
            parts.append(sql.SQL(" CONNECTION LIMIT {}").format(sql.Literal(role.connection_limit)))
        if role.valid_until:
            parts.append(sql.SQL(" VALID UNTIL {}").format(sql.Literal(role.valid_until)))
        if login and role.password_hash:
            parts.append(sql.SQL(" PASSWORD {}").format(sql.Literal(role.password_hash)))
        statements.append(sql.Composed(parts).as_string(None) + ";")
    for membership in memberships:
        grant = sql.SQL("GRANT {} TO {}").format(
            sql.Identifier(membership.role), sql.Identifier(membership.member)
        )
        statements.append(grant.as_string(None) + (" WITH ADMIN OPTION;" if membership.admin_option else ";"))
    return statements


def creation_script(roles: Iterable[Role], memberships: Iterable[Membership]) -> str:
    """The script a person can run by hand before loading the dump (every role, NOLOGIN)."""
    lines = [
        "-- The roles this database's objects refer to (pg_dump leaves them out), as hht-archival",
        "-- archived them. Run before the dump, on a cluster that lacks them: psql -f roles.sql",
        "-- Roles are created NOLOGIN; an existing role makes its CREATE ROLE fail: skip that line.",
        *create_statements(roles, memberships),
    ]
    return "\n".join(lines) + "\n"
