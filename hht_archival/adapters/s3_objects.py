"""S3 calls about objects already written: state (HEAD), bytes, tags, retention, Glacier restores.

Kept beside ``s3.py`` (which writes objects) so each stays readable. The contract that matters here is
what a *cold* object allows: after the lifecycle rule moves an object to
DEEP_ARCHIVE (day 90), GetObject is refused (InvalidObjectState) and some
stores refuse GetObjectTagging too, but HEAD still answers with the object's
size, storage class, user metadata, checksum and Object Lock retention. So
whatever must stay readable for seven years is kept where HEAD shows it.

``None`` means "not there" (``head``: 404) or "cold" (``read``, ``get_tags``:
InvalidObjectState), never an error; ``lock_default`` is None where the bucket
has no Object Lock. ``chunks`` raises for a cold object (the sentence names
its Glacier restore), as it streams what must be read whole. Every other
failure is raised as s3_errors.translate words it; botocore has already
retried the transient ones.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from hht_archival.adapters.s3_errors import answer_or_none, translated

COLD_CLASSES = ("DEEP_ARCHIVE", "GLACIER")  # GetObject refused until a restore (GLACIER_IR is readable)
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_COLD = {"InvalidObjectState"}
_NO_LOCK = {"ObjectLockConfigurationNotFoundError", "NotImplemented", "InvalidRequest"}


@dataclass(frozen=True)
class ObjectHead:
    """What HEAD says about one object; readable whatever its storage class."""

    key: str
    size: int
    storage_class: str
    etag: str
    restore: str = ""  # x-amz-restore: 'ongoing-request="false", ...' once a Glacier restore is done
    metadata: dict[str, str] = field(default_factory=dict)
    sha256: str | None = None  # S3's own SHA-256 of the object (hex), where the store keeps one
    lock_mode: str | None = None
    locked_until: datetime | None = None
    encryption: str | None = None  # AES256 or aws:kms, as S3 reports it

    @property
    def cold(self) -> bool:
        """True while GetObject is refused: in a Glacier class and not (yet) restored."""
        return self.storage_class in COLD_CLASSES and 'ongoing-request="false"' not in self.restore

    @property
    def restoring(self) -> bool:
        return 'ongoing-request="true"' in self.restore


def head(client, bucket: str, key: str, sponsor: str) -> ObjectHead | None:
    """HEAD with checksums enabled; None when the object is not there."""
    reply = answer_or_none(
        lambda: client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED"),
        sponsor,
        f"reading the state of s3://{bucket}/{key}",
        _NOT_FOUND,
    )
    if reply is None:
        return None
    checksum = reply.get("ChecksumSHA256")
    return ObjectHead(
        key=key,
        size=reply.get("ContentLength", 0),
        storage_class=reply.get("StorageClass", "STANDARD"),
        etag=str(reply.get("ETag", "")).strip('"'),
        restore=reply.get("Restore", ""),
        metadata=dict(reply.get("Metadata", {})),
        sha256=base64.b64decode(checksum).hex() if checksum and "-" not in checksum else None,
        lock_mode=reply.get("ObjectLockMode"),
        locked_until=reply.get("ObjectLockRetainUntilDate"),
        encryption=reply.get("ServerSideEncryption"),
    )


def read(client, bucket: str, key: str, sponsor: str) -> bytes | None:
    """The object's bytes, or None while it is cold (a Glacier class, not restored)."""
    return answer_or_none(
        lambda: client.get_object(Bucket=bucket, Key=key)["Body"].read(),
        sponsor,
        f"reading s3://{bucket}/{key}",
        _COLD,
    )


def chunks(client, bucket: str, key: str, sponsor: str, size: int = 1024 * 1024) -> Iterator[bytes]:
    """The object's bytes as they arrive, for one too large to hold; a failure midway is translated too."""
    with translated(sponsor, f"reading s3://{bucket}/{key}"):
        yield from client.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(size)


def get_tags(client, bucket: str, key: str, sponsor: str) -> dict[str, str] | None:
    """The object's tags, or None where the store refuses to read them for a cold object."""
    reply = answer_or_none(
        lambda: client.get_object_tagging(Bucket=bucket, Key=key),
        sponsor,
        f"reading the tags of s3://{bucket}/{key}",
        _COLD,
    )
    return None if reply is None else {t["Key"]: t["Value"] for t in reply.get("TagSet", [])}


@dataclass(frozen=True)
class LockDefault:
    """A bucket's Object Lock default retention: ``years`` or ``days`` (S3 allows one of the two)."""

    mode: str
    years: int
    days: int


def lock_default(client, bucket: str, sponsor: str) -> LockDefault | None:
    """The bucket's Object Lock default, or None where Object Lock is off or the store has none."""
    config = answer_or_none(
        lambda: client.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"],
        sponsor,
        f"reading the Object Lock configuration of s3://{bucket}",
        _NO_LOCK,
    )
    if config is None or config.get("ObjectLockEnabled") != "Enabled":
        return None
    default = config.get("Rule", {}).get("DefaultRetention", {})
    years, days = int(default.get("Years") or 0), int(default.get("Days") or 0)
    return LockDefault(default.get("Mode", "NONE"), years, days)


def put_retention(client, bucket: str, key: str, until: datetime, sponsor: str) -> None:
    """Lock this object version in compliance mode until ``until``: nobody can delete it before."""
    with translated(sponsor, f"setting the retention of s3://{bucket}/{key}"):
        client.put_object_retention(
            Bucket=bucket, Key=key, Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until}
        )


def list_after(client, bucket: str, prefix: str, start_after: str | None, sponsor: str) -> list[dict]:
    """Objects under ``prefix`` whose keys sort after ``start_after`` (all of them for None).

    Keys are listed in order, so from a known recent key this costs one
    request however many older objects the prefix holds.
    """
    extra = {"StartAfter": start_after} if start_after else {}
    found: list[dict] = []
    with translated(sponsor, f"listing s3://{bucket}/{prefix}"):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, **extra):
            found.extend(page.get("Contents", []))
    return found


def request_restore(client, bucket: str, key: str, sponsor: str, days: int = 7) -> None:
    """Ask Glacier for a readable copy of a cold object (Bulk: the cheapest, up to 48 hours)."""
    answer_or_none(  # one already under way is as good as a new one
        lambda: client.restore_object(
            Bucket=bucket, Key=key, RestoreRequest={"Days": days, "GlacierJobParameters": {"Tier": "Bulk"}}
        ),
        sponsor,
        f"requesting the Glacier restore of s3://{bucket}/{key}",
        {"RestoreAlreadyInProgress"},
    )
