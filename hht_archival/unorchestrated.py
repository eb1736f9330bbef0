"""A run's log written without Prefect: the flag off with no server configured, or no engine to start.

Why: with the flag off and no Prefect server configured, all a run produces is
its banner and its local JSON log, so starting an engine (and migrating a
database that a CI runner throws away) only made the user wait. And a run whose
embedded engine cannot start must still leave its log. The record starts from
the same ``new_log`` the flow uses, so the two paths write the same fields.
"""

from __future__ import annotations

import os
from pathlib import Path

from blocks.config import SponsorConfig
from blocks.defaults import DEFAULT_ENVIRONMENT, ENVIRONMENT_VARIABLE, local_log_dir, sponsor_or_home
from blocks.flag import FlagDecision
from hht_archival.errors import ArchivalError, one_sentence
from hht_archival.naming import ENVIRONMENT_KEYS, RunNames, validate_sponsor
from hht_archival.record import DeploymentLog, new_log, utc_now_iso, write_local_log


def write_log_without_engine(
    config: SponsorConfig, decision: FlagDecision, started_at: str, error: str | None = None
) -> tuple[DeploymentLog, Path]:
    """Write the local log of a run decided before any engine: skipped, or failed with ``error``."""
    names = RunNames.now(config.sponsor, config.environment)
    record = new_log(config, names, started_at).model_copy(
        update={
            "s3_archival_enabled": decision.enabled,
            "flag_source": decision.source,
            "status": "failed" if error else "skipped",
            "error": error,
            "finished_at": utc_now_iso(),
        }
    )
    return record, write_local_log(config.log_dir, names.log_filename, record.to_json())


class ArchivalFailed(ArchivalError):
    """The run failed; the message is the one sentence, and the local log is at ``log_path``."""

    def __init__(self, message: str, log_path: Path | None, record: dict | None):
        super().__init__(message)
        self.log_path = log_path
        self.record = record

    def __reduce__(self):
        return (ArchivalFailed, (str(self), self.log_path, self.record))


class ArchivalStopped(ArchivalFailed):
    """The run was stopped by a signal (SIGINT, SIGTERM) and its log written: the flow run ends Cancelled."""

    def __init__(self, message: str, log_path: Path | None, record: dict | None, signum: int):
        super().__init__(message, log_path, record)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """130 for SIGINT, 143 for SIGTERM, as shells expect of a stopped command."""
        return 128 + self.signum

    def __reduce__(self):
        return (ArchivalStopped, (str(self), self.log_path, self.record, self.signum))


def stopped_sentence(
    stop, sponsor: str, environment: str, backup_location: str | None = None, started: bool = True
) -> str:
    """What a stopped run's log and the terminal say: by which signal, and what is (not) in S3."""
    whose = f"The run for sponsor {sponsor} ({environment}) was stopped by {stop.signal_name}"
    if not started:
        return f"{whose} before it started; nothing was done; run it again when ready."
    if backup_location:
        return (
            f"{whose} after its backup reached {backup_location}, whole, but before its deployment log "
            "reached the audit bucket; run it again to archive with a log."
        )
    return f"{whose} before it finished; nothing was left at a final S3 key; run it again when ready."


def record_config_failure(exc, sponsor, environment, log_dir, started_at) -> ArchivalFailed:
    """A run stopped before its configuration could be built still leaves a local log, named safely."""
    reason = one_sentence(exc)
    env_name = environment if environment in ENVIRONMENT_KEYS else DEFAULT_ENVIRONMENT
    names = RunNames.now("invalid", env_name)
    record = DeploymentLog(
        sponsor=str(sponsor_or_home(sponsor)),
        environment=str(environment or os.environ.get(ENVIRONMENT_VARIABLE) or ""),
        timestamp=names.timestamp,
        s3_archival_enabled=False,
        flag_source="default",
        status="failed",
        region="",
        backups_bucket="",
        audit_logs_bucket="",
        started_at=started_at or utc_now_iso(),
        finished_at=utc_now_iso(),
        error=reason,
    )
    try:
        path = write_local_log(
            local_log_dir(log_dir, _valid_name(sponsor)), names.log_filename, record.to_json()
        )
    except OSError:
        path = None
    return ArchivalFailed(reason, path, record.model_dump(mode="json"))


def _valid_name(sponsor: str | None) -> str | None:
    """The sponsor's log directory name, or None (the base directory) for a name that is not valid."""
    try:
        return validate_sponsor(sponsor_or_home(sponsor))
    except ArchivalError:
        return None
