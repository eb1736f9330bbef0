"""One sponsor's resolved configuration: each setting from the first source bound to that sponsor.

Resolution happens once, at the start of a run and before any work, so every
bad input is reported in one sentence before pg_dump or S3 is touched. This is
the one place the order of sources is written down (``resolve_config``), and
each resolved setting records where it came from (``SponsorConfig.sources``),
which the run's log and ``doctor`` show.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr, ValidationError

from blocks.binding import (
    bound_aws_identity,
    bound_environment,
    drill_variable,
    no_database_refusal,
    own_prefix,
)
from blocks.defaults import DEFAULT_REGION, environment_or_default, home_sponsor, local_log_dir
from blocks.flag import FlagInputs, parse_flag
from blocks.second_copy import PRIMARY, SecondCopy, resolve_second_copy
from blocks.settings import ArchivalSettings, deployment_metadata_from_environment
from hht_archival.errors import ConfigError

if TYPE_CHECKING:  # blocks.sponsor imports Prefect; configuration errors are reported without it
    from blocks.manifest import ManifestSettings
    from blocks.sponsor import SponsorBlockValues
from hht_archival.naming import (
    default_audit_logs_bucket,
    default_backups_bucket,
    validate_bucket,
    validate_environment,
    validate_sponsor,
)

__all__ = ["SponsorConfig", "load_settings", "resolve_config"]


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
    aws_credentials: Any = None  # an AwsCredentials block, the sponsor's AwsKeys, or None for boto3's chain
    part_size_mib: int = 16
    upload_concurrency: int = 2  # parts sent at once (hht_archival/adapters/parts_in_flight.py)
    backup_format: str = "sql.gz"
    record_row_counts: bool = True
    role_passwords: bool = False  # archive the roles' password hashes (the roles object becomes a secret)
    lock_timeout_seconds: float = 1800
    lock_lease_seconds: float = 60  # how long a lost machine's archive lock outlives it
    table_lock_wait_seconds: float = 300  # how long pg_dump waits for a table lock another session holds
    task_retries: int = 3
    retry_delay_seconds: float = 10.0
    deployment: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # setting -> where it came from
    refusals: dict[str, str] = field(default_factory=dict)  # setting -> why this sponsor cannot archive
    # Its restore drills' scratch server (admin URL), None when drills are not configured for it, and the
    # variable that set it or should (hht_archival/drill_setting.py words what each surface says).
    drill_database_url: SecretStr | None = None
    drill_variable: str = "ARCHIVAL_DRILL_DATABASE_URL"
    variable_prefixes: tuple[str, ...] = ()  # where its variables are read, in order; "" is the seed's names
    # Its optional second destination (blocks/second_copy.py), and which copy this configuration writes to.
    second: SecondCopy | None = None
    copy_name: str = PRIMARY
    endpoint_url: str | None = None  # None: boto3's chain (AWS_ENDPOINT_URL) decides, as for every sponsor

    def require_archivable(self) -> None:
        """Stop an enabled run before any work when something it needs is not bound to this sponsor."""
        for sentence in self.refusals.values():
            raise ConfigError(sentence)


def load_settings() -> ArchivalSettings:
    """Read the shared, operational settings, turning pydantic's report into one sentence."""
    try:
        return ArchivalSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first.get("loc") else "a setting"
        raise ConfigError(
            f"Environment variable {name} is invalid ({first['msg']}); fix or unset it."
        ) from None


def resolve_config(
    *,
    sponsor: str | None = None,
    environment: str | None = None,
    enabled: bool | None = None,
    log_dir: str | Path | None = None,
    sponsor_block: SponsorBlockValues | None = None,
    manifest: ManifestSettings | None = None,
    deployment: dict[str, str] | None = None,
    env_prefix: str | None = None,
    settings: ArchivalSettings | None = None,
) -> SponsorConfig:
    """Resolve one sponsor's settings, each from the first source bound to that sponsor.

    Precedence, highest first: parameters (sponsor, environment, the flag), the
    sponsor block (bound by its ``sponsor`` field), the sponsor's environment
    (its prefixed variables, or the prefix its manifest entry declares; the
    unprefixed seed names only for the sponsor SPONSOR names), the manifest
    entry, the manifest's defaults, the seed's defaults. ``env_prefix`` given
    as a parameter must be the sponsor's own: other mappings are declared in
    the manifest, which only the worker's owner can edit.
    """
    env = settings if settings is not None else load_settings()
    blk = sponsor_block
    name = validate_sponsor(_first(sponsor, blk and blk.sponsor, home_sponsor()))
    if blk is not None and blk.sponsor != name:
        raise ConfigError(
            f"The sponsor block {blk.name} belongs to sponsor {blk.sponsor}, not {name}; name {name}'s own "
            "block, or leave the sponsor empty to use the block's."
        )
    if env_prefix and env_prefix != own_prefix(name):
        raise ConfigError(
            f"env_prefix {env_prefix} is not sponsor {name}'s own ({own_prefix(name)}); a run's parameters "
            "can only name the sponsor's own settings: declare other mappings in the sponsor manifest."
        )
    environment = validate_environment(
        environment_or_default(_first(environment, env.deployment_environment)), name
    )
    bound = bound_environment(name, manifest.env_prefix if manifest else None)
    sources: dict[str, str] = {}

    def pick(setting: str, *candidates: tuple[Any, str]) -> Any:
        for value, source in candidates:
            if value is not None and value != "":
                sources[setting] = source
                return value
        return None

    block_source = f"block {blk.name}" if blk is not None else ""
    manifest_source = f"manifest {manifest.path}" if manifest else ""
    region = pick(
        "region",
        (blk and blk.region, block_source),
        (bound.get("region"), bound.source("region")),
        (manifest and manifest.region, manifest_source),
        (manifest and manifest.default_region, f"{manifest_source} defaults"),
        (DEFAULT_REGION, "default"),
    )
    backups = pick(
        "backups_bucket",
        (blk and blk.backups_bucket, block_source),
        (bound.get("backups_bucket"), bound.source("backups_bucket")),
        (manifest and manifest.backups_bucket, manifest_source),
        (default_backups_bucket(name, region), "default"),
    )
    audit = pick(
        "audit_logs_bucket",
        (blk and blk.audit_logs_bucket, block_source),
        (bound.get("audit_logs_bucket"), bound.source("audit_logs_bucket")),
        (manifest and manifest.audit_logs_bucket, manifest_source),
        (default_audit_logs_bucket(name, region), "default"),
    )
    validate_bucket(backups, bound.variable("backups_bucket"), name)
    validate_bucket(audit, bound.variable("audit_logs_bucket"), name)
    raw_url = pick(
        "database",
        (blk and blk.database_url, block_source),
        (bound.get("database_url"), bound.source("database_url")),
    )
    database_url = raw_url if isinstance(raw_url, SecretStr | None) else SecretStr(raw_url)
    kms = pick(
        "sse_kms_key_id",
        (blk and blk.sse_kms_key_id, block_source),
        (bound.get("sse_kms_key_id"), bound.source("sse_kms_key_id")),
    )
    drill_url = _secret(
        pick(
            "drill_database",
            (blk and blk.drill_database_url, block_source),
            (bound.get("drill_database_url"), bound.source("drill_database_url")),
            (manifest and manifest.drill_database_url, manifest_source),
        )
    )
    if blk is not None and _names_an_identity(blk.credentials):
        credentials, sources["aws_identity"], identity_refusal = blk.credentials, blk.credentials_source, None
    else:
        credentials, sources["aws_identity"], identity_refusal = bound_aws_identity(bound)

    second = resolve_second_copy(
        name,
        blk,
        bound,
        manifest.copy2 if manifest else None,
        {
            "region": region,
            "backups_bucket": backups,
            "audit_logs_bucket": audit,
            "aws_credentials": credentials,
            "identity_source": sources["aws_identity"],
        },
        manifest_source,
    )
    if second is not None:
        sources.update(second.sources)

    env_flag = bound.get("flag")
    flag_variable = bound.variable("flag")
    if env_flag is not None:
        parse_flag(env_flag, flag_variable, name)  # fail before any work

    refusals = {}
    if database_url is None:
        unprefixed = "" in bound.prefixes  # the home sponsor: the seed's DATABASE_URL is the one to set
        refusals["database"] = no_database_refusal(
            name, "DATABASE_URL" if unprefixed else bound.variable("database_url")
        )
    if identity_refusal:
        refusals["aws_identity"] = identity_refusal

    meta = deployment_metadata_from_environment()
    meta.update({k: str(v) for k, v in (deployment or {}).items() if v not in (None, "")})

    return SponsorConfig(
        sponsor=name,
        environment=environment,
        region=region,
        backups_bucket=backups,
        audit_logs_bucket=audit,
        log_dir=local_log_dir(log_dir or env.archival_log_dir, name),
        work_dir=Path(_first(env.archival_work_dir, tempfile.gettempdir())),
        flag=FlagInputs(
            parameter=enabled,
            block=blk.enable_s3_backup_archival if blk is not None else None,
            environment_raw=env_flag,
            environment_variable=flag_variable,
        ),
        database_url=database_url,
        sse_kms_key_id=kms,
        aws_credentials=credentials,
        part_size_mib=env.archival_part_size_mib,
        upload_concurrency=env.archival_upload_concurrency,
        backup_format=env.archival_format,
        record_row_counts=env.archival_record_row_counts,
        role_passwords=env.archival_role_passwords,
        lock_timeout_seconds=env.archival_lock_timeout_seconds,
        lock_lease_seconds=env.archival_lock_lease_seconds,
        table_lock_wait_seconds=env.archival_table_lock_wait_seconds,
        task_retries=env.archival_task_retries,
        retry_delay_seconds=env.archival_retry_delay_seconds,
        deployment=meta,
        sources=sources,
        refusals=refusals,
        drill_database_url=drill_url,
        drill_variable=drill_variable(bound),
        variable_prefixes=bound.prefixes,
        second=second,
    )


def _secret(value: Any) -> SecretStr | None:
    return value if isinstance(value, SecretStr | None) else SecretStr(value)


def _names_an_identity(credentials: Any) -> bool:
    """A credentials block with keys or a profile; an empty one would fall back to the environment's keys."""
    return credentials is not None and bool(
        getattr(credentials, "aws_access_key_id", None) or getattr(credentials, "profile_name", None)
    )


def _first(*values: Any) -> Any:
    for value in values:
        if value is not None and value != "":
            return value
    return None
