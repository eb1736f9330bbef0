"""The sponsor block: one Prefect block that names where a sponsor's settings live on a server.

Like prefect-aws's blocks, it holds configuration only. It *names* the standard
``S3Bucket``, ``AwsCredentials`` and ``Secret`` blocks rather than nesting them,
so credentials stay managed where Prefect users already manage them, and
because Prefect 3.9's server cannot re-read a block schema that nests blocks
which themselves nest blocks (a second ``save()`` answers 500).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect.blocks.core import Block
from prefect.blocks.system import Secret
from prefect_aws import AwsCredentials
from prefect_aws.s3 import S3Bucket
from pydantic import Field, SecretStr

from hht_archival.errors import ConfigError


class SponsorArchival(Block):
    """Where one sponsor's archival settings live, for runs started from a Prefect server."""

    _block_type_name = "HHT Sponsor Archival"
    _block_type_slug = "hht-sponsor-archival"
    _description = "Buckets, credentials, database secret and feature flag for one sponsor's S3 archival."

    sponsor: str = Field(description="Sponsor (tenant) name: lowercase letters, digits, hyphens.")
    region: str | None = Field(default=None, description="AWS region of the buckets; default eu-west-1.")
    backups_bucket_block: str | None = Field(
        default=None, description="Name of the S3Bucket block for database backups."
    )
    audit_logs_bucket_block: str | None = Field(
        default=None, description="Name of the S3Bucket block for deployment logs."
    )
    aws_credentials_block: str | None = Field(
        default=None,
        description="Name of an AwsCredentials block; default the backups S3Bucket block's own credentials.",
    )
    database_url_secret: str | None = Field(
        default=None, description="Name of the Secret block holding the PostgreSQL URL to dump."
    )
    enable_s3_backup_archival: bool | None = Field(
        default=None,
        description="Feature flag for this sponsor; unset defers to the environment, "
        "then to the Prefect variable, then to false.",
    )
    sse_kms_key_id: str | None = Field(
        default=None, description="KMS key ARN for SSE-KMS; unset means SSE-S3 (AES256)."
    )
    drill_database_url_secret: str | None = Field(
        default=None,
        description="Name of the Secret block holding the admin URL of a scratch PostgreSQL server for this "
        "sponsor's restore drills (never production); unset: drills are not configured here.",
    )
    copy2_name: str | None = Field(
        default=None, description="Second copy: its name in logs, doctor and --copy (default copy2)."
    )
    copy2_backups_bucket_block: str | None = Field(
        default=None,
        description="Second copy: name of the S3Bucket block for its backups (another region, account or "
        "provider); with copy2_audit_logs_bucket_block, every archive is written to both destinations.",
    )
    copy2_audit_logs_bucket_block: str | None = Field(
        default=None, description="Second copy: name of the S3Bucket block for its own chain of logs."
    )
    copy2_aws_credentials_block: str | None = Field(
        default=None,
        description="Second copy: name of its AwsCredentials block; default its backups S3Bucket block's "
        "credentials, else the first copy's identity (never sent to another provider's endpoint).",
    )
    copy2_region: str | None = Field(
        default=None, description="Second copy: its region; default the first's."
    )
    copy2_endpoint_url: str | None = Field(
        default=None, description="Second copy: the endpoint of another S3-compatible provider; unset: AWS."
    )
    copy2_sse_kms_key_id: str | None = Field(
        default=None, description="Second copy: its KMS key ARN for SSE-KMS; unset means SSE-S3 (AES256)."
    )


@dataclass(frozen=True)
class SponsorBlockValues:
    """A sponsor block with the blocks it names already loaded: what configuration resolution reads."""

    sponsor: str
    name: str = ""  # the block's own name, for the sources a run records
    region: str | None = None
    backups_bucket: str | None = None
    audit_logs_bucket: str | None = None
    credentials: Any = None
    credentials_source: str = ""  # which block the credentials came from
    database_url: SecretStr | None = None
    enable_s3_backup_archival: bool | None = None
    sse_kms_key_id: str | None = None
    drill_database_url: SecretStr | None = None
    copy2: dict[str, str | None] | None = None  # its second destination's settings (blocks/second_copy.py)
    copy2_credentials: Any = None
    copy2_credentials_source: str = ""


def load_sponsor_block(name: str) -> SponsorBlockValues:
    """Load the sponsor block ``name`` and every block it names; one sentence if one is missing."""
    block = _load(SponsorArchival, name, "hht-sponsor-archival")
    backups = _load(S3Bucket, block.backups_bucket_block, "s3-bucket") if block.backups_bucket_block else None
    audit = (
        _load(S3Bucket, block.audit_logs_bucket_block, "s3-bucket") if block.audit_logs_bucket_block else None
    )
    if block.aws_credentials_block:
        credentials = _load(AwsCredentials, block.aws_credentials_block, "aws-credentials")
        credentials_source = f"block aws-credentials/{block.aws_credentials_block}"
    else:
        credentials = getattr(backups, "credentials", None)
        credentials_source = f"block s3-bucket/{block.backups_bucket_block}"
    secret = _load(Secret, block.database_url_secret, "secret") if block.database_url_secret else None
    drill = (
        _load(Secret, block.drill_database_url_secret, "secret") if block.drill_database_url_secret else None
    )
    copy2, copy2_credentials, copy2_source = _second_copy(block)
    return SponsorBlockValues(
        sponsor=block.sponsor,
        name=name,
        region=block.region,
        backups_bucket=backups.bucket_name if backups else None,
        audit_logs_bucket=audit.bucket_name if audit else None,
        credentials=credentials,
        credentials_source=credentials_source,
        database_url=SecretStr(secret.get()) if secret else None,
        enable_s3_backup_archival=block.enable_s3_backup_archival,
        sse_kms_key_id=block.sse_kms_key_id,
        drill_database_url=SecretStr(drill.get()) if drill else None,
        copy2=copy2,
        copy2_credentials=copy2_credentials,
        copy2_credentials_source=copy2_source,
    )


def _second_copy(block: SponsorArchival) -> tuple[dict[str, str | None], Any, str]:
    """The second copy's settings the block names (bucket blocks loaded), its credentials, their source."""
    backups = (
        _load(S3Bucket, block.copy2_backups_bucket_block, "s3-bucket")
        if block.copy2_backups_bucket_block
        else None
    )
    audit = (
        _load(S3Bucket, block.copy2_audit_logs_bucket_block, "s3-bucket")
        if block.copy2_audit_logs_bucket_block
        else None
    )
    credentials, source = None, ""
    if block.copy2_aws_credentials_block:
        credentials = _load(AwsCredentials, block.copy2_aws_credentials_block, "aws-credentials")
        source = f"block aws-credentials/{block.copy2_aws_credentials_block}"
    elif backups is not None and _has_identity(backups.credentials):
        credentials, source = backups.credentials, f"block s3-bucket/{block.copy2_backups_bucket_block}"
    values = {
        "name": block.copy2_name,
        "region": block.copy2_region,
        "endpoint_url": block.copy2_endpoint_url,
        "backups_bucket": backups.bucket_name if backups else None,
        "audit_logs_bucket": audit.bucket_name if audit else None,
        "sse_kms_key_id": block.copy2_sse_kms_key_id,
    }
    return values, credentials, source


def _has_identity(credentials: Any) -> bool:
    return credentials is not None and bool(
        getattr(credentials, "aws_access_key_id", None) or getattr(credentials, "profile_name", None)
    )


def _load(block_type: type[Block], name: str, slug: str) -> Any:
    try:
        return block_type.load(name)
    except ValueError:
        raise ConfigError(
            f"The Prefect block {slug}/{name} does not exist; create it in the UI (Blocks) or with "
            f"{block_type.__name__}(...).save({name!r})."
        ) from None
