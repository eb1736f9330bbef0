"""The embedded Prefect API's database on a new PREFECT_HOME: a copy of one Prefect migrated, not a migration.

Why: without a configured server, a run starts Prefect's own server on
PREFECT_HOME's SQLite database (engine.py). On a new home (every CI runner,
every new machine or user) that server first migrates an empty database
through all of Prefect's migrations, which took most of an enabled run's
time (15 s of 16.5 s under a busy core). That work is the same for every new
home of one Prefect version, so it is done once per version, by Prefect's own
``prefect server database upgrade``, into a template kept in this environment
(bin/ prepares it when it sets up .venv, and the first run without one does),
and a new home gets a copy: Prefect's own server on Prefect's own schema.
The server that starts on the copy just placed skips Prefect's check of it
(migrate on start: about 0.6 s), since this Prefect version migrated it; on
any other database, a home used before included, the check runs as always.
An existing database is never touched, nor one Prefect is configured to keep
elsewhere than SQLite.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from hht_archival.switches import switched_on

_SQLITE_URL = "sqlite+aiosqlite:///"
_MIGRATION_SECONDS = 600
SETTING = "ARCHIVAL_PREFECT_DB_TEMPLATE"  # "off": each new home's server migrates from nothing


def enabled() -> bool:
    return switched_on(os.environ, SETTING)


def template_path() -> Path:
    """Where this environment keeps the migrated database of its Prefect version."""
    import prefect

    return Path(sys.prefix) / "share" / "hht-archival" / f"prefect-{prefect.__version__}.db"


def prepare_template() -> Path | None:
    """The template, migrated now by Prefect if it is not there yet; None where it cannot be made.

    One process migrates while any other waits for it (a lock file beside the
    template); the result is moved into place whole, so nobody copies half of it.
    """
    path = template_path()
    if path.exists():
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with (path.parent / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.exists():
                _migrate_into(path)
    except (OSError, subprocess.SubprocessError):
        return None  # a read-only environment: each new home migrates, as Prefect does
    return path


def seed_new_home(database_url: str) -> bool:
    """Copy the template to where the embedded API will keep its database, if nothing is there yet.

    ``database_url`` is Prefect's setting for it. True when a copy was placed;
    False for any other database (PostgreSQL, in memory, one that exists) or
    when there is no template.
    """
    if not database_url.startswith(_SQLITE_URL) or ":memory:" in database_url:
        return False
    target = Path(database_url[len(_SQLITE_URL) :].split("?", 1)[0])
    template = template_path()
    if target.exists() or not template.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        shutil.copyfile(template, partial)
        os.link(partial, target)  # fails if another command placed one meanwhile: theirs stays
    except FileExistsError:
        return False
    finally:
        partial.unlink(missing_ok=True)
    return True


def _migrate_into(path: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix=".migrating-", dir=path.parent))
    try:
        environment = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("PREFECT_") or name == "PREFECT_SERVER_ANALYTICS_ENABLED"
        }
        environment["PREFECT_HOME"] = str(work)  # Prefect's default database, in a home of its own
        prefect = Path(sys.executable).with_name("prefect")
        subprocess.run(
            [str(prefect), "server", "database", "upgrade", "-y"],
            env=environment,
            capture_output=True,
            check=True,
            timeout=_MIGRATION_SECONDS,
        )
        migrated = work / "prefect.db"
        with sqlite3.connect(migrated) as connection:  # everything in the one file: no -wal beside it
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()
        migrated.rename(path)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    made = prepare_template()
    print(f"Prefect's database for new homes: {made or 'not kept (this environment is read-only)'}")
