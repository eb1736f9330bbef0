"""Loading a verified backup into the target: one psql session, one transaction, roles first.

Every format goes through ``psql --single-transaction`` with ON_ERROR_STOP:
plain SQL decompressed on the fly, the custom format as the script
``pg_restore --file=-`` writes. That is what lets the missing roles be created
(the ``prelude``) *in the same transaction* as the tables they own: any error,
in the roles or in the dump, rolls back both, and the target is never left with
half a database or with roles nobody asked for. (``pg_restore --jobs`` would be
faster, but cannot run in one transaction; benchmarks/restore_speed.py measures
what that costs.)

``no_owner`` gives every object to the restoring user: pg_restore's own
``--no-owner --no-privileges`` for the custom format, and for plain SQL the
statement-aware filter in ownership_filter.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hht_archival.adapters.codecs import format_for_key, plain_sql_reader
from hht_archival.adapters.postgres import mask_url, passfile_environment
from hht_archival.errors import ArchivalError, ConfigError
from hht_archival.ownership_filter import without_owners

CHUNK = 1024 * 1024
_PSQL_PREFIX = re.compile(r"^psql:<stdin>:\d+: ")
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

    psql commits when its input ends, so its input is ended only once the whole
    backup came out (pg_restore exited 0): if not, psql is killed first and the
    server rolls the transaction back. ``secrets`` (archived password hashes in
    the prelude) are masked in the error sentence; without ``roles_archived``,
    a missing role gets the remedy the roles object would have made unneeded.
    """
    psql = _tool("psql")
    failure = ""
    # stderr goes to a file, not a pipe: a pipe nobody reads while stdin is fed could fill and stall psql
    with passfile_environment(target_url) as (conninfo, env), tempfile.TemporaryFile() as errors:
        argv = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "--no-password"]
        proc = subprocess.Popen(
            [*argv, f"--dbname={conninfo}"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        try:
            with _sql_of(archive, no_owner) as source:
                proc.stdin.write(prelude.encode("utf-8"))
                for chunk in source:
                    proc.stdin.write(chunk)
                failure = source.failure()
            if failure:
                raise _Abandon
            proc.stdin.close()  # the end of psql's input: it commits
        except BrokenPipeError:
            _close_quietly(proc.stdin)  # psql stopped early: its stderr says why
        except BaseException:
            proc.kill()  # before psql sees the end of its input, which it would commit
            _close_quietly(proc.stdin)
            proc.wait()
            if not failure:
                raise
        proc.wait()
        errors.seek(0)
        stderr = errors.read().decode("utf-8", "replace")
    if failure or proc.returncode != 0:
        reason = failure or _masked(_error_line(stderr, proc.returncode), secrets)
        missing = _MISSING_ROLE.search(reason)
        if missing and not roles_archived:
            reason += (
                f"; this backup was archived without its roles, so create role {missing[1]} on the target "
                "first, or pass --no-owner"
            )
        raise ArchivalError(
            f"Restoring into {mask_url(target_url)} failed for sponsor {sponsor} and was rolled back: "
            + reason
        )


class _Abandon(Exception):
    """The backup did not come out whole: psql must not commit what it has."""


@contextmanager
def _sql_of(archive: Path, no_owner: bool) -> Iterator[_Source]:
    """The backup as SQL chunks (``failure()`` says afterwards whether they were all of it)."""
    fmt = format_for_key(archive.name)
    if fmt.pg_dump_format != "custom":
        with plain_sql_reader(archive, fmt) as raw:
            chunks = iter(lambda: raw.read(CHUNK), b"")
            yield _Source(without_owners(chunks) if no_owner else chunks)
        return
    argv = [_tool("pg_restore"), "--file=-"]
    if no_owner:
        argv += ["--no-owner", "--no-privileges"]
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [*argv, str(archive)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors
        )
        source = _Source(iter(lambda: proc.stdout.read(CHUNK), b""), proc, errors)
        try:
            yield source
        finally:
            proc.stdout.close()  # if psql stopped early, pg_restore stops on its next write
            proc.wait()


class _Source:
    """SQL chunks, and for pg_restore's script, whether pg_restore ended well."""

    def __init__(self, chunks, proc=None, errors=None):
        self._chunks, self._proc, self._errors = chunks, proc, errors

    def __iter__(self):
        return iter(self._chunks)

    def failure(self) -> str:
        if self._proc is None or self._proc.wait() == 0:
            return ""
        self._errors.seek(0)
        return _error_line(self._errors.read().decode("utf-8", "replace"), self._proc.returncode)


def _error_line(stderr: str, code: int) -> str:
    """The line that says what went wrong: the last ERROR or FATAL, else the last line."""
    lines = [_PSQL_PREFIX.sub("", x.strip()) for x in stderr.splitlines() if x.strip()]
    errors = [x for x in lines if re.search(r"\b(ERROR|FATAL|error):", x)]
    return (errors or lines or [f"exit status {code}"])[-1]


def _masked(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ConfigError(f"{name} was not found on PATH; install the PostgreSQL client tools.")
    return path


def _close_quietly(stream) -> None:
    try:
        stream.close()
    except OSError:
        pass
