"""The seed's defaults, each in one place: sponsor, environment, region and the local log directory.

Every reader (the command line, the flows, doctor, the run-name function)
asks this module rather than restating "callisto" or "production"; the
precedence that puts a parameter, a block, the environment or a manifest
before these is blocks/config.py's.

The variables here are read raw from the environment, not through
``ArchivalSettings``, on purpose: they are also needed on the paths where the
settings themselves failed to validate (the failed run's local log, the run's
name in the UI), and those must never fail in turn.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

DEFAULT_SPONSOR = "callisto"
HOME_SPONSOR_VARIABLE = "SPONSOR"
DEFAULT_ENVIRONMENT = "production"
ENVIRONMENT_VARIABLE = "DEPLOYMENT_ENVIRONMENT"
DEFAULT_REGION = "eu-west-1"
DEFAULT_LOG_DIR = Path("deployment-logs")
LOG_DIR_VARIABLE = "ARCHIVAL_LOG_DIR"


def home_sponsor() -> str:
    """The sponsor the unprefixed variables belong to: SPONSOR, else the seed's callisto."""
    return os.environ.get(HOME_SPONSOR_VARIABLE, "").strip() or DEFAULT_SPONSOR


def sponsor_or_home(sponsor: str | None) -> str:
    """A sponsor left empty means the home sponsor."""
    return sponsor or home_sponsor()


def environment_or_default(value: Any) -> Any:
    """An empty environment means this machine's DEPLOYMENT_ENVIRONMENT, else production."""
    return value or os.environ.get(ENVIRONMENT_VARIABLE) or DEFAULT_ENVIRONMENT


def local_log_dir(log_dir: str | Path | None = None, sponsor: str | None = None) -> Path:
    """Where a sponsor's local logs go: ``{the given directory, else ARCHIVAL_LOG_DIR, else
    deployment-logs}/{sponsor}``, so a worker serving many sponsors keeps each one's logs apart.
    Without a valid sponsor name (a run refused before it had one) the base directory itself."""
    base = Path(log_dir or os.environ.get(LOG_DIR_VARIABLE) or DEFAULT_LOG_DIR)
    return base / sponsor if sponsor else base
