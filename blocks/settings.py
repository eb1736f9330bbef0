"""The shared environment settings (directories, retries, format...), read with pydantic-settings.

A sponsor's own settings are bound to that sponsor and read by
blocks/binding.py; these apply to every sponsor a process serves.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ArchivalSettings(BaseSettings):
    """The shared, operational settings; every field is optional so that defaults apply.

    A sponsor's own settings (flag, database, buckets, region, KMS key, AWS
    keys, its drills' scratch server) are not read here: they are bound to one sponsor (blocks/binding.py).
    """

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    deployment_environment: str | None = Field(
        default=None, description="production, staging or dev; default production."
    )
    archival_log_dir: Path | None = Field(default=None, description="Local log directory.")
    archival_work_dir: Path | None = Field(
        default=None, description="Directory for the dump spool; default the system temp directory."
    )
    archival_part_size_mib: int = Field(
        default=16,
        ge=5,
        le=5120,
        description="Smallest multipart part size; it grows so any upload fits in 10,000 parts.",
    )
    archival_upload_concurrency: int = Field(
        default=2,
        ge=1,
        le=16,
        description="Parts of an upload sent at once, each on a connection of its own and a part's memory.",
    )
    archival_lock_timeout_seconds: float = Field(
        default=1800,
        ge=0,
        description="How long a run waits for another run of the same sponsor and environment.",
    )
    archival_lock_lease_seconds: float = Field(
        default=60,
        ge=3,
        le=3600,
        description="How long the archive lock of a run whose machine or network was lost outlives it (the "
        "lock session's TCP keepalives); a run whose process died frees it at once.",
    )
    archival_table_lock_wait_seconds: float = Field(
        default=300,
        gt=0,
        description="How long pg_dump and the row counts wait for a lock on a table that another session "
        "holds (a migration, VACUUM FULL); then the run fails naming the table.",
    )
    archival_manifest: Path = Field(default=Path("sponsors.yaml"), description="The sponsor manifest.")
    archival_max_parallel: int = Field(
        default=4, ge=1, le=64, description="Sponsors archived at once by the all-sponsors flow."
    )
    archival_record_row_counts: bool = Field(
        default=True,
        description="Count every table's rows in the dump's snapshot, for restore drills (one more scan).",
    )
    archival_role_passwords: bool = Field(
        default=False,
        description="Archive the roles' password hashes too (needs a superuser; the roles object is then a "
        "secret).",
    )
    archival_format: Literal["sql.gz", "sql.zst", "dump"] = Field(
        default="sql.gz",
        description="sql.gz (plain SQL, gzip: the seed's), sql.zst (plain SQL, zstd) or dump (pg_dump -Fc).",
    )
    archival_second_copy_grace_seconds: float = Field(
        default=30,
        ge=0,
        description="How long the stream may wait in all for a sponsor's second copy before dropping it "
        "(the run ends archived, degraded), on top of ARCHIVAL_SECOND_COPY_MAX_SLOWDOWN of its time.",
    )
    archival_second_copy_max_slowdown: float = Field(
        default=0.15,
        ge=0,
        le=10,
        description="The share of the stream's time a slow second copy may add to the first (0.15: 15%); "
        "beyond it and the grace period the second copy is dropped, never the first.",
    )
    archival_task_retries: int = Field(default=3, ge=0, le=10, description="Retries per task.")
    archival_retry_delay_seconds: float = Field(
        default=10.0, ge=0, description="First retry delay; later ones grow exponentially, with jitter."
    )
    # Anomalies (hht_archival/anomaly.py): an archived backup that looks wrong ends its run "Anomalous".
    archival_anomaly_size_fraction: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="A backup smaller than this fraction of the median of the recent ones is anomalous; "
        "0 disables.",
    )
    archival_anomaly_row_drop: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="A table that lost more than this fraction of its rows since the previous backup is "
        "anomalous; 1 disables.",
    )
    archival_anomaly_history: int = Field(
        default=7, ge=1, le=50, description="How many recent backups the size median is taken over."
    )


def deployment_metadata_from_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Collect what a CI system says about the application deployment (GitHub Actions names).

    Only descriptive fields are read; tokens and secrets in the same environment
    are never looked at.
    """
    env = os.environ if environ is None else environ
    meta = {
        "version": env.get("DEPLOYMENT_VERSION") or env.get("APP_VERSION"),
        "git_sha": env.get("GITHUB_SHA"),
        "git_ref": env.get("GITHUB_REF_NAME"),
        "actor": env.get("GITHUB_ACTOR"),
        "repository": env.get("GITHUB_REPOSITORY"),
        "run_id": env.get("GITHUB_RUN_ID"),
    }
    if meta["repository"] and meta["run_id"]:
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        meta["run_url"] = f"{server}/{meta['repository']}/actions/runs/{meta['run_id']}"
    return {k: v for k, v in meta.items() if v}
