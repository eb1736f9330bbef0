"""The sponsor block: one Prefect block that names where a sponsor's settings live on a server.

Like prefect-aws's blocks, it holds configuration only; the buckets and the
database URL are the standard `S3Bucket` and `Secret` blocks, so credentials
are managed where Prefect users already manage them.
"""

from __future__ import annotations

from prefect.blocks.core import Block
from prefect.blocks.system import Secret
from prefect_aws.s3 import S3Bucket
from pydantic import Field


class SponsorArchival(Block):
    """Where one sponsor's archival settings live, for runs started from a Prefect server."""

    _block_type_name = "HHT Sponsor Archival"
    _block_type_slug = "hht-sponsor-archival"
    _description = "Buckets, database secret and feature flag for one sponsor's S3 backup archival."

    sponsor: str = Field(description="Sponsor (tenant) name: lowercase letters, digits, hyphens.")
    region: str | None = Field(default=None, description="AWS region of the buckets; default eu-west-1.")
    backups_bucket: S3Bucket | None = Field(
        default=None,
        description="S3Bucket block for database backups; its credentials are used for both buckets.",
    )
    audit_logs_bucket: S3Bucket | None = Field(
        default=None, description="S3Bucket block for deployment logs."
    )
    database_url: Secret | None = Field(
        default=None, description="Secret block holding the PostgreSQL URL to dump."
    )
    enable_s3_backup_archival: bool | None = Field(
        default=None,
        description="Feature flag for this sponsor; unset defers to the environment, "
        "then to the Prefect variable, then to false.",
    )
    sse_kms_key_id: str | None = Field(
        default=None, description="KMS key id or ARN for SSE-KMS; unset means SSE-S3 (AES256)."
    )
