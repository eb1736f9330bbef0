"""doctor's rows for what runs on a schedule: the nightly's manifest and the weekly drill's scratch server.

Why: right after `prefect deploy --all` the schedules exist; a nightly with no
committed manifest is left unscheduled, and a weekly drill on a worker without
a scratch server ends "not configured". Neither fails, so a person must be told
what is missing before relying on them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from blocks.config import load_settings
from hht_archival.adapters.postgres import mask_url
from hht_archival.errors import ArchivalError


def check_scheduled_runs(sponsor: str, add) -> None:
    settings = load_settings()
    _check_manifest(sponsor, Path(settings.archival_manifest), add)
    drill = settings.archival_drill_database_url
    if drill is None:
        add(
            "restore drill server",
            "warn",
            "ARCHIVAL_DRILL_DATABASE_URL is not set here: the weekly drill ends 'not configured'; set it on "
            "the workers to the admin URL of a scratch PostgreSQL server",
        )
    else:
        add("restore drill server", "ok", mask_url(drill.get_secret_value()))


def _check_manifest(sponsor: str, path: Path, add) -> None:
    from blocks.manifest import load_manifest

    if not path.exists():
        add(
            "nightly manifest",
            "warn",
            f"{path} does not exist: `prefect deploy` leaves the nightly unscheduled; commit one (see "
            "sponsors.example.yaml) and deploy again",
        )
        return
    try:
        names = {entry.name for entry in load_manifest(path).sponsors}
    except ArchivalError as exc:
        add("nightly manifest", "fail", str(exc), f"fix {path}")
        return
    if sponsor not in names:
        add(
            "nightly manifest", "warn", f"sponsor {sponsor} is not in {path}: the nightly does not archive it"
        )
    elif not _committed(path):
        add(
            "nightly manifest",
            "warn",
            f"{path} names {sponsor} but is not committed: workers clone the repository, so the nightly "
            "will not find it; commit it and deploy again",
        )
    else:
        add("nightly manifest", "ok", f"{sponsor} is in {path} (committed)")


def _committed(path: Path) -> bool:
    done = subprocess.run(["git", "ls-files", "--error-unmatch", str(path)], capture_output=True, check=False)
    return done.returncode == 0
