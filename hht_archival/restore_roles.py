"""The roles half of a restore: fetch the backup's roles object, check it, decide what the target needs.

A dump restores faithfully (owners and grants as they were) only where its
roles exist. The plan made here is applied by load.py in the restore's own
transaction, so it is all or nothing with the tables:

- a missing role is created (NOLOGIN unless ``login``) with the attributes it
  was archived with, and the archived memberships that involve it are granted;
- an existing role is left exactly as it is, and reported;
- with ``no_owner`` no role is touched: every object goes to the restoring user.

A target that cannot take the owners is refused here, before any download of
the backup and before any statement: only a superuser can create roles with
any attribute and give objects to roles it is not a member of. A non-superuser
can still restore faithfully when every role exists and it is a member of
each role that owns something, as ALTER ... OWNER TO itself requires.

Backups archived before roles were have no roles object: they restore as
before, and the report says the roles were not archived with that backup.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from hht_archival.adapters import pg_inspect, s3_objects
from hht_archival.adapters.postgres import mask_url
from hht_archival.catalogue import Entry
from hht_archival.errors import ArchivalError, ConfigError, in_context
from hht_archival.roles import DatabaseRoles, create_statements


@dataclass
class RolePlan:
    """What the restore does about roles, and what it reports."""

    archived: bool  # the backup came with a roles object
    restoring_user: str = ""
    no_owner: bool = False
    login: bool = False
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    prelude: str = field(default="", repr=False)  # SQL run first in the restore's transaction
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def summary(self) -> str:
        """One sentence for the terminal and the drill report."""
        if self.no_owner:
            return (
                "Owners and grants were not restored (--no-owner): every object belongs to "
                f"{self.restoring_user}."
            )
        if not self.archived:
            return (
                "Roles were not archived with this backup (it predates roles objects): owners and grants "
                "were restored as they are in the dump, which needs its roles to exist on the target."
            )
        kind = "LOGIN as archived" if self.login else "NOLOGIN"
        created = f"created {len(self.created)} ({kind}): {', '.join(self.created)}" if self.created else ""
        kept = f"left as they were: {', '.join(self.existing)}" if self.existing else ""
        either = "; ".join(x for x in (created, kept) if x) or "none"
        return f"Roles the backup's objects refer to: {either}."


def fetch_roles(client, bucket: str, entry: Entry, log: dict | None, sponsor: str) -> DatabaseRoles | None:
    """The backup's roles object, checked against the SHA-256 recorded at archive time, or None."""
    recorded_in_log = (log or {}).get("roles_sha256")
    if entry.roles is None:
        if recorded_in_log:
            raise ArchivalError(
                f"The roles object of {entry.key} (sponsor {sponsor}) is recorded in its deployment log but "
                "missing from the bucket; investigate the bucket's versions, or restore with --no-owner."
            )
        return None
    key, tag = entry.roles.key, entry.roles.sha256
    if recorded_in_log and tag and recorded_in_log != tag:
        raise ArchivalError(
            f"The SHA-256 of {key} differs between its deployment log and its tag for sponsor {sponsor}; "
            "one of them was altered: do not restore it, investigate the audit trail."
        )
    expected = recorded_in_log or tag
    body = s3_objects.read(client, bucket, key, sponsor)
    if body is None:  # restore_backup has ensured it is readable; a Glacier copy expired in between
        raise ArchivalError(
            f"{key} of sponsor {sponsor} is in cold storage again; run the restore with "
            "--request-glacier-restore, or restore with --no-owner."
        )
    if not expected or hashlib.sha256(body).hexdigest() != expected:
        raise ArchivalError(
            f"{key} of sponsor {sponsor} does not match its recorded SHA-256 (or none is recorded); "
            "nothing reached the target. Investigate the object's versions in S3, or restore with --no-owner."
        )
    return DatabaseRoles.from_document(body)


def plan_roles(
    target_url: str, roles: DatabaseRoles | None, sponsor: str, *, no_owner: bool = False, login: bool = False
) -> RolePlan:
    """Decide, on the target, which roles to create; refuse in one sentence if it cannot take them."""
    try:
        on_target = pg_inspect.standing(target_url, [] if no_owner or roles is None else roles.names)
    except ArchivalError as exc:
        raise unreadable_target(exc, sponsor) from None
    user, existing, member_of = on_target.user, on_target.existing, on_target.member_of
    if no_owner or roles is None:
        return RolePlan(archived=roles is not None, restoring_user=user, no_owner=no_owner)
    names = roles.names
    missing = [name for name in names if name not in existing]
    if not on_target.superuser:
        out_of_reach = [r.name for r in roles.roles if r.owns_objects and r.name not in member_of]
        problem = _why_not(user, missing, out_of_reach)
        if problem:
            raise ConfigError(
                f"The target {mask_url(target_url)} cannot take sponsor {sponsor}'s backup with its owners: "
                f"{problem}; restore as a superuser there, or pass --no-owner to give every object to {user}."
            )
    created = [role for role in roles.roles if role.name in missing]
    memberships = [m for m in roles.memberships if m.role in missing or m.member in missing]
    statements = create_statements(created, memberships, login=login)
    return RolePlan(
        archived=True,
        restoring_user=user,
        login=login,
        created=[role.name for role in created],
        existing=sorted(existing),
        prelude="".join(f"{statement}\n" for statement in statements),
        secrets=tuple(r.password_hash for r in created if login and r.password_hash),
    )


def unreadable_target(exc: ArchivalError, sponsor: str) -> ArchivalError:
    """The sentence for a restore target that could not be read (pg_inspect's clause in ``exc``)."""
    return in_context(
        exc, f"The restore target for sponsor {sponsor} cannot be read: {exc}; check --target-url."
    )


def _why_not(user: str, missing: list[str], not_member: list[str]) -> str:
    if missing:
        return f"user {user} is not a superuser and cannot create the missing role(s) {', '.join(missing)}"
    if not_member:
        return f"user {user} is not a superuser nor a member of the owning role(s) {', '.join(not_member)}"
    return ""
