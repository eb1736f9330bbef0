"""SQL into a target through one psql session and one transaction, committed only if it all came.

psql commits ``--single-transaction`` when its input ends, so its input is
ended only once the whole source came out: a source that fails (pg_restore
exiting non-zero on a custom dump it cannot read) gets psql killed first, and
the server rolls everything back, the ``prelude`` (roles created for the
restore) included. Both tools run without a shell; psql gets the password in a
passfile (postgres.py), never in argv.

Contract: ``load`` returns only after psql committed. Any failure, psql's or
the source's, raises ``LoadFailed``, permanent (the target refused the SQL, or
the backup is unreadable: another attempt would do the same), whose
``reason`` is the line that says why (psql's last ERROR or FATAL, with its
``psql:<stdin>:N:`` prefix removed and ``secrets`` masked) and whose message
names the masked target; the caller adds the sponsor and any remedy. A missing
psql or pg_restore binary is a ``ConfigError``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from hht_archival.adapters.postgres import mask_url, passfile_environment
from hht_archival.errors import ArchivalError, ConfigError

CHUNK = 1024 * 1024
_PSQL_PREFIX = re.compile(r"^psql:<stdin>:\d+: ")


class LoadFailed(ArchivalError):
    """The load was rolled back; ``target`` is the masked URL and ``reason`` the line saying why."""

    def __init__(self, target: str, reason: str):
        super().__init__(f"Loading into {target} failed and was rolled back: {reason}")
        self.target, self.reason = target, reason


class SqlSource:
    """SQL chunks, and for a tool's output, whether the tool ended well (``failure()``: why not, or "")."""

    def __init__(self, chunks: Iterable[bytes], proc=None, errors=None):
        self._chunks, self._proc, self._errors = chunks, proc, errors

    def __iter__(self):
        return iter(self._chunks)

    def failure(self) -> str:
        if self._proc is None or self._proc.wait() == 0:
            return ""
        self._errors.seek(0)
        return _error_line(self._errors.read().decode("utf-8", "replace"), self._proc.returncode)


class _Abandon(Exception):
    """The source did not come out whole: psql must not commit what it has."""


def load(
    target_url: str,
    source: AbstractContextManager[SqlSource],
    *,
    prelude: str = "",
    secrets: tuple[str, ...] = (),
) -> None:
    """Run ``prelude`` then ``source``'s SQL into ``target_url`` in one transaction (see the contract)."""
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
            with source as chunks:
                proc.stdin.write(prelude.encode("utf-8"))
                for chunk in chunks:
                    proc.stdin.write(chunk)
                failure = chunks.failure()
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
        raise LoadFailed(
            mask_url(target_url), failure or _masked(_error_line(stderr, proc.returncode), secrets)
        )


@contextmanager
def pg_restore_script(archive: Path, no_owner: bool) -> Iterator[SqlSource]:
    """A custom-format dump as the SQL script ``pg_restore --file=-`` writes (owners left out if asked)."""
    argv = [_tool("pg_restore"), "--file=-"]
    if no_owner:
        argv += ["--no-owner", "--no-privileges"]
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [*argv, str(archive)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors
        )
        source = SqlSource(iter(lambda: proc.stdout.read(CHUNK), b""), proc, errors)
        try:
            yield source
        finally:
            proc.stdout.close()  # if psql stopped early, pg_restore stops on its next write
            proc.wait()


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
