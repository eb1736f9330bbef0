"""One sponsor's resolved configuration: flow parameters over the sponsor block over the environment.

Resolution happens once, at the start of a run and before any work, so every
bad input is reported in one sentence before pg_dump or S3 is touched.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr, ValidationError

from blocks.flag import FlagInputs, parse_flag
from blocks.settings import SPONSOR_SPECIFIC, ArchivalSettings, deployment_metadata_from_environment
from hht_archival.errors import ConfigError

if TYPE_CHECKING:  # blocks.sponsor imports Prefect; configuration errors are reported without it
    from blocks.sponsor import SponsorBlockValues
from hht_archival.naming import (
    default_audit_logs_bucket,
    default_backups_bucket,
    validate_bucket,
    validate_environment,
    validate_sponsor,
)

DEFAULT_SPONSOR = "callisto"
DEFAULT_ENVIRONMENT = "production"
DEFAULT_REGION = "eu-west-1"
DEFAULT_LOG_DIR = Path("deployment-logs")


def local_log_dir(log_dir: str | Path | None = None) -> Path:
    """Where local logs go when no sponsor config could be built: the given directory, else
    ARCHIVAL_LOG_DIR, else ``deployment-logs`` (what ``resolve_config`` would pick too)."""
    return Path(log_dir or os.environ.get("ARCHIVAL_LOG_DIR") or DEFAULT_LOG_DIR)


@dataclass(frozen=True)
class SponsorConfig:
    """Everything one sponsor's run needs; secrets stay SecretStr, so reprs and logs mask them."""

    sponsor: str
    environment: str
    region: str
    backups_bucket: str
    audit_logs_bucket: str
    log_dir: Path
    work_dir: Path
    flag: FlagInputs
    database_url: SecretStr | None = None
    sse_kms_key_id: str | None = None
    aws_credentials: Any = None  # a prefect-aws AwsCredentials block, or None for boto3's chain
    part_size_mib: int = 16
    backup_format: str = "sql.gz"
    record_row_counts: bool = True
    role_passwords: bool = False  # archive the roles' password hashes (the roles object becomes a secret)
    lock_timeout_seconds: float = 1800
    task_retries: int = 3
    retry_delay_seconds: float = 10.0
    deployment: dict[str, str] = field(default_factory=dict)


def load_settings(env_prefix: str | None = None) -> ArchivalSettings:
    """Read the environment, turning pydantic's report into one sentence.

    With ``env_prefix`` (from the sponsor manifest), the sponsor's own settings
    (flag, buckets, region, DATABASE_URL, KMS key) are read only from prefixed
    names; operational ones (log and work directories, retries) stay shared.
    """
    try:
        shared = ArchivalSettings()
        if not env_prefix:
            return shared
        own = ArchivalSettings(_env_prefix=env_prefix)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first.get("loc") else "a setting"
        raise ConfigError(
            f"Environment variable {(env_prefix or '') + name} is invalid ({first['msg']}); fix or unset it."
        ) from None
    return shared.model_copy(update={field: getattr(own, field) for field in SPONSOR_SPECIFIC})


def resolve_config(
    *,
    sponsor: str | None = None,
    environment: str | None = None,
    enabled: bool | None = None,
    region: str | None = None,
    backups_bucket: str | None = None,
    audit_logs_bucket: str | None = None,
    log_dir: str | Path | None = None,
    sponsor_block: SponsorBlockValues | None = None,
    deployment: dict[str, str] | None = None,
    env_prefix: str | None = None,
    settings: ArchivalSettings | None = None,
) -> SponsorConfig:
    """Merge parameters, an optional loaded sponsor block, the environment and defaults.

    Precedence, highest first: flow parameters, the sponsor block (when one is
    named: naming it is an explicit choice), the environment, the seed's defaults.
    """
    env = settings if settings is not None else load_settings(env_prefix)
    blk = sponsor_block

    name = validate_sponsor(_first(sponsor, blk and blk.sponsor, env.sponsor, DEFAULT_SPONSOR))
    environment = validate_environment(
        _first(environment, env.deployment_environment, DEFAULT_ENVIRONMENT), name
    )
    region = _first(region, blk and blk.region, env.sponsor_aws_region, DEFAULT_REGION)
    backups = _first(
        backups_bucket,
        blk and blk.backups_bucket,
        env.sponsor_backups_bucket,
        default_backups_bucket(name, region),
    )
    audit = _first(
        audit_logs_bucket,
        blk and blk.audit_logs_bucket,
        env.sponsor_audit_logs_bucket,
        default_audit_logs_bucket(name, region),
    )
    validate_bucket(backups, "SPONSOR_BACKUPS_BUCKET", name)
    validate_bucket(audit, "SPONSOR_AUDIT_LOGS_BUCKET", name)

    database_url = env.database_url
    if blk is not None and blk.database_url is not None:
        database_url = blk.database_url
    credentials = blk.credentials if blk is not None else None

    env_flag = env.enable_s3_backup_archival
    if env_flag is not None and not env_flag.strip():
        env_flag = None  # an empty secret is treated as a deleted one: unset means false
    flag_variable = f"{env_prefix or ''}ENABLE_S3_BACKUP_ARCHIVAL"
    if env_flag is not None:
        parse_flag(env_flag, flag_variable, name)  # fail before any work

    meta = deployment_metadata_from_environment()
    meta.update({k: str(v) for k, v in (deployment or {}).items() if v not in (None, "")})

    return SponsorConfig(
        sponsor=name,
        environment=environment,
        region=region,
        backups_bucket=backups,
        audit_logs_bucket=audit,
        log_dir=Path(_first(log_dir, env.archival_log_dir, DEFAULT_LOG_DIR)),
        work_dir=Path(_first(env.archival_work_dir, tempfile.gettempdir())),
        flag=FlagInputs(
            parameter=enabled,
            block=blk.enable_s3_backup_archival if blk is not None else None,
            environment_raw=env_flag,
            environment_variable=flag_variable,
        ),
        database_url=database_url,
        sse_kms_key_id=_first(blk and blk.sse_kms_key_id, env.archival_sse_kms_key_id),
        aws_credentials=credentials,
        part_size_mib=env.archival_part_size_mib,
        backup_format=env.archival_format,
        record_row_counts=env.archival_record_row_counts,
        role_passwords=env.archival_role_passwords,
        lock_timeout_seconds=env.archival_lock_timeout_seconds,
        task_retries=env.archival_task_retries,
        retry_delay_seconds=env.archival_retry_delay_seconds,
        deployment=meta,
    )


def _first(*values: Any) -> Any:
    for value in values:
        if value is not None and value != "":
            return value
    return None
