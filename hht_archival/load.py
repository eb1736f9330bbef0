"""Loading a verified backup into the target: one psql session, one transaction, roles first.

Every format goes through ``psql --single-transaction`` with ON_ERROR_STOP
(adapters/psql.py): plain SQL decompressed on the fly, the custom format as the
script ``pg_restore --file=-`` writes. That is what lets the missing roles be
created (the ``prelude``) *in the same transaction* as the tables they own: any
error, in the roles or in the dump, rolls back both, and the target is never
left with half a database or with roles nobody asked for. (``pg_restore
--jobs`` would be faster, but cannot run in one transaction;
benchmarks/restore_speed.py measures what that costs.)

``no_owner`` gives every object to the restoring user: pg_restore's own
``--no-owner --no-privileges`` for the custom format, and for plain SQL the
statement-aware filter in ownership_filter.py. What is left here is the
restore's side: which SQL to send, and the sentence a failure becomes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hht_archival.adapters import psql
from hht_archival.adapters.codecs import format_for_key, plain_sql_reader
from hht_archival.errors import ArchivalError
from hht_archival.ownership_filter import without_owners

_MISSING_ROLE = re.compile(r'role "((?:[^"]|"")+)" does not exist')


def load_into(
    archive: Path,
    target_url: str,
    sponsor: str,
    *,
    prelude: str = "",
    no_owner: bool = False,
    secrets: tuple[str, ...] = (),
    roles_archived: bool = True,
) -> None:
    """Run ``prelude`` then the backup in one transaction; on any error roll back and say why.

    ``secrets`` (archived password hashes in the prelude) are masked in the
    error sentence; without ``roles_archived``, a missing role gets the remedy
    the roles object would have made unneeded.
    """
    try:
        psql.load(target_url, _sql_of(archive, no_owner), prelude=prelude, secrets=secrets)
    except psql.LoadFailed as failed:
        reason = failed.reason
        missing = _MISSING_ROLE.search(reason)
        if missing and not roles_archived:
            reason += (
                f"; this backup was archived without its roles, so create role {missing[1]} on the target "
                "first, or pass --no-owner"
            )
        raise ArchivalError(
            f"Restoring into {failed.target} failed for sponsor {sponsor} and was rolled back: {reason}"
        ) from None


@contextmanager
def _sql_of(archive: Path, no_owner: bool) -> Iterator[psql.SqlSource]:
    """The backup as SQL chunks (``failure()`` says afterwards whether they were all of it)."""
    fmt = format_for_key(archive.name)
    if fmt.pg_dump_format == "custom":
        with psql.pg_restore_script(archive, no_owner) as source:
            yield source
        return
    with plain_sql_reader(archive, fmt) as raw:
        chunks = iter(lambda: raw.read(psql.CHUNK), b"")
        yield psql.SqlSource(without_owners(chunks) if no_owner else chunks)
