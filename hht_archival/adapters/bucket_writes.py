"""Changing an archive bucket's settings: what ``provision`` applies, one S3 call per setting.

Contract: each call replaces one setting whole (S3 has no partial update of a
lifecycle or an encryption rule), so the caller passes the complete value it
wants, already merged with what must be kept (bucket_settings.py decides
that). Nothing here reads first or decides whether to weaken; a failure is
raised as s3_errors.translate words it, naming the setting and the bucket,
after botocore's own retries of what was transient.
"""

from __future__ import annotations

from typing import Any

from hht_archival.adapters.bucket_settings import PUBLIC_ACCESS_BLOCK
from hht_archival.adapters.s3_errors import translated


def create_bucket(client, bucket: str, region: str, object_lock: bool, sponsor: str) -> None:
    """Create the bucket in ``region``; Object Lock can only be enabled now, never later."""
    create: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":  # S3 refuses us-east-1 as an explicit location
        create["CreateBucketConfiguration"] = {"LocationConstraint": region}
    if object_lock:
        create["ObjectLockEnabledForBucket"] = True
    with translated(sponsor, f"creating s3://{bucket} in {region}"):
        client.create_bucket(**create)


def enable_versioning(client, bucket: str, sponsor: str) -> None:
    with translated(sponsor, f"enabling the versioning of s3://{bucket}"):
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def set_default_encryption(client, bucket: str, kms_key_id: str | None, sponsor: str) -> str:
    """SSE-KMS with the sponsor's key where it has one, else SSE-S3; returns the algorithm set."""
    algorithm = (
        {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key_id}
        if kms_key_id
        else {"SSEAlgorithm": "AES256"}
    )
    with translated(sponsor, f"setting the default encryption of s3://{bucket}"):
        client.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": algorithm}]},
        )
    return algorithm["SSEAlgorithm"]


def block_public_access(client, bucket: str, sponsor: str) -> None:
    with translated(sponsor, f"blocking public access to s3://{bucket}"):
        client.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK)


def put_lifecycle(client, bucket: str, rules: list[dict[str, Any]], sponsor: str) -> None:
    """Replace the bucket's lifecycle with ``rules`` (every rule to keep, not only ours)."""
    with translated(sponsor, f"setting the lifecycle of s3://{bucket}"):
        client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})


def put_lock_default(client, bucket: str, mode: str, years: int, sponsor: str) -> None:
    """Set the default Object Lock retention new object versions get (irreversible in compliance mode)."""
    config = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": mode, "Years": years}}}
    with translated(sponsor, f"setting the Object Lock default of s3://{bucket}"):
        client.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=config)
