"""doctor's rows for what runs on a schedule: the nightly's manifest and the weekly drill's scratch server.

Why: right after `prefect deploy --all` the schedules exist; a nightly with no
committed manifest is left unscheduled, and the weekly drill skips a sponsor
with no scratch server of its own ("not configured"). Neither fails, so a
person must be told what is missing before relying on them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from blocks.config import SponsorConfig, load_settings
from hht_archival import drill_setting
from hht_archival.adapters.postgres import mask_url, server_version
from hht_archival.errors import ArchivalError


def check_scheduled_runs(sponsor: str, add) -> None:
    _check_manifest(sponsor, Path(load_settings().archival_manifest), add)


def check_drills(config: SponsorConfig, add) -> None:
    """The sponsor's drill scratch server: where it comes from, and that it answers (advice only: a
    broken drill server must not stop an archive)."""
    if not drill_setting.configured(config):
        add(
            "restore drills",
            "warn",
            f"{drill_setting.NOT_CONFIGURED}: {drill_setting.remedy(config)} to the admin URL of a scratch "
            f"PostgreSQL server (never production), or drill_database_url_secret in {config.sponsor}'s "
            f"sponsor block; until then the weekly does not drill {config.sponsor} and no drill is expected",
        )
        return
    url = config.drill_database_url.get_secret_value()
    where = f"{mask_url(url)} (from {config.sources.get('drill_database')})"
    try:
        _, version = server_version(url)
    except ArchivalError as exc:
        add("restore drills", "warn", f"the scratch server {where} does not answer: {exc}; drills will fail")
        return
    add("restore drills", "ok", f"scratch server {where}, PostgreSQL {version}")


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
