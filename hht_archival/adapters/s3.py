"""S3 calls: upload (single or multipart), tags and small JSON objects, with errors in one sentence.

Contract: an upload either completes, leaving the whole object at its key, or
raises after aborting its multipart upload, leaving nothing at the key (S3 only
shows a multipart object once it is completed). ``TransientError`` marks what
a retry may fix (throttling, 5xx, network); a missing bucket, denied access or
bad credentials are ``ArchivalError`` and are not retried.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from hht_archival.errors import ArchivalError, ConfigError, TransientError

log = logging.getLogger(__name__)

MIN_PART_SIZE = 16 * 1024 * 1024
MAX_PARTS = 10_000
_MIB = 1024 * 1024
_TRANSIENT_CODES = {
    "SlowDown",
    "InternalError",
    "ServiceUnavailable",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "OperationAborted",
}
_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "InvalidClientTokenId",
}


def _client_config() -> Config:
    """botocore's standard retry mode: 5 attempts with backoff, or AWS_MAX_ATTEMPTS when set."""
    attempts = int(os.environ.get("AWS_MAX_ATTEMPTS") or 5)
    return Config(
        retries={"mode": "standard", "max_attempts": attempts}, connect_timeout=10, read_timeout=120
    )


def make_client(region: str, credentials: Any = None):
    """Build an S3 client: from a prefect-aws AwsCredentials block, else boto3's standard chain.

    boto3's chain reads keys, profiles and roles, and ``AWS_ENDPOINT_URL`` /
    ``AWS_ENDPOINT_URL_S3`` for S3-compatible servers, so nothing here re-implements it.
    """
    if credentials is not None:
        return credentials.get_client("s3")
    return boto3.session.Session(region_name=region).client("s3", config=_client_config())


def part_size_for(size: int, minimum: int = MIN_PART_SIZE) -> int:
    """Smallest whole-MiB part size at least ``minimum`` that fits ``size`` bytes in 10,000 parts."""
    needed = math.ceil(size / MAX_PARTS)
    return max(minimum, math.ceil(needed / _MIB) * _MIB)


def uses_multipart(size: int, min_part_size: int = MIN_PART_SIZE) -> bool:
    """Whether ``upload_file`` sends ``size`` bytes in parts (else one checksummed PUT)."""
    return size > part_size_for(size, min_part_size)


def encryption_args(kms_key_id: str | None) -> dict[str, str]:
    if kms_key_id:
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}
    return {"ServerSideEncryption": "AES256"}


def upload_file(
    client,
    path: Path,
    bucket: str,
    key: str,
    *,
    sha256_hex: str,
    sponsor: str,
    metadata: Mapping[str, str],
    kms_key_id: str | None = None,
    content_type: str = "application/gzip",
    min_part_size: int = MIN_PART_SIZE,
    on_progress: Callable[[int, int], None] | None = None,
    tags: Mapping[str, str] | None = None,
) -> int:
    """Upload ``path`` to ``bucket/key`` with SSE and SHA-256 checksums; return the bytes sent.

    ``tags`` are set as the object is created, so it is never visible untagged.
    """
    size = path.stat().st_size
    extra = {
        **encryption_args(kms_key_id),
        "Metadata": {"sha256": sha256_hex, **metadata},
        "ContentType": content_type,
    }
    if tags:
        extra["Tagging"] = urlencode(dict(tags))
    part_size = part_size_for(size, min_part_size)
    try:
        if not uses_multipart(size, min_part_size):
            with path.open("rb") as body:
                client.put_object(
                    Bucket=bucket,
                    Key=key,
                    Body=body,
                    ChecksumSHA256=_b64(bytes.fromhex(sha256_hex)),
                    **extra,
                )
        else:
            _multipart(client, path, bucket, key, part_size, extra, sponsor, on_progress)
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, sponsor, f"upload to s3://{bucket}/{key}") from exc
    return size


def _multipart(
    client, path: Path, bucket: str, key: str, part_size: int, extra: dict, sponsor: str, on_progress
):
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256", **extra)[
        "UploadId"
    ]
    try:
        parts = []
        with path.open("rb") as body:
            number = 1
            while chunk := body.read(part_size):
                checksum = _b64(hashlib.sha256(chunk).digest())
                reply = client.upload_part(
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=chunk,
                    ChecksumSHA256=checksum,
                )
                parts.append({"PartNumber": number, "ETag": reply["ETag"], "ChecksumSHA256": checksum})
                number += 1
                if on_progress is not None:
                    on_progress(body.tell(), path.stat().st_size)
        client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        abort_quietly(client, bucket, key, upload_id, sponsor)
        raise


def abort_quietly(client, bucket: str, key: str, upload_id: str, sponsor: str) -> None:
    """Abort a multipart upload; if even that fails, say the lifecycle rule will clean up."""
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except Exception as exc:  # the original failure matters more than this one
        log.warning(
            "Could not abort multipart upload %s of s3://%s/%s for sponsor %s (%s); the bucket's "
            "abort-incomplete-multipart lifecycle rule will remove its parts.",
            upload_id,
            bucket,
            key,
            sponsor,
            type(exc).__name__,
        )


def put_tags(client, bucket: str, key: str, tags: Mapping[str, str], sponsor: str) -> None:
    tag_set = [{"Key": k, "Value": v} for k, v in tags.items()]
    try:
        client.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": tag_set})
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, sponsor, f"tagging s3://{bucket}/{key}") from exc


def put_json(
    client,
    bucket: str,
    key: str,
    body: bytes,
    *,
    tags: Mapping[str, str],
    sponsor: str,
    kms_key_id: str | None = None,
) -> None:
    """Write a small JSON object, tagged at creation, with its SHA-256 checked by S3."""
    try:
        client.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
            ChecksumSHA256=_b64(hashlib.sha256(body).digest()),
            Tagging=urlencode(dict(tags)),
            **encryption_args(kms_key_id),
        )
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, sponsor, f"upload to s3://{bucket}/{key}") from exc


def translate(exc: Exception, sponsor: str, action: str) -> ArchivalError:
    """Turn a botocore error into one sentence with the remedy, marked retryable or not."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ConfigError(
            f"No AWS credentials were found for sponsor {sponsor} ({action}); set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an AwsCredentials block."
        )
    if isinstance(exc, BotoConnectionError):
        return TransientError(
            f"S3 could not be reached for sponsor {sponsor} ({action}: {type(exc).__name__}); "
            "check the network and AWS_ENDPOINT_URL."
        )
    if not isinstance(exc, ClientError):
        return TransientError(f"S3 failed for sponsor {sponsor} ({action}): {type(exc).__name__}.")
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    bucket = action.split("s3://", 1)[-1].split("/", 1)[0]
    if code == "NoSuchBucket":
        return ArchivalError(
            f"Bucket {bucket} does not exist for sponsor {sponsor}; create it (terraform apply, "
            "or hht-archival demo for a local try) or set the bucket name in the environment."
        )
    if code in ("AccessDenied", "AllAccessDisabled", "Forbidden", "403"):
        return ArchivalError(
            f"Access denied for sponsor {sponsor} ({action}); grant the archival role "
            "s3:PutObject and s3:PutObjectTagging on that bucket."
        )
    if code in _CREDENTIAL_CODES:
        return ArchivalError(
            f"AWS rejected the credentials for sponsor {sponsor} ({code}); check "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or the AwsCredentials block."
        )
    if code in _TRANSIENT_CODES or status >= 500:
        return TransientError(
            f"S3 answered {code or status} for sponsor {sponsor} ({action}); retrying may help."
        )
    return ArchivalError(f"S3 refused {action} for sponsor {sponsor}: {code} ({status}).")


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")
