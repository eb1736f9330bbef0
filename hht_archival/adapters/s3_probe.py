"""The doctor's probe: write, tag, read back and remove one small object, to learn what a role may do.

Contract: a refusal is the answer, not an error: ``probe`` returns the calls S3
allowed, in order, and the first one it refused with S3's code. Any other
failure (the network, after botocore's retries) is raised as s3_errors.translate
words it. The probe removes its own version afterwards; where Object Lock or
the role forbids that, it stays (a few bytes, tagged data-class=doctor-probe).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from hht_archival.adapters.s3 import encryption_args
from hht_archival.adapters.s3_errors import error_code, translated

BODY = b"hht-archival doctor probe\n"
TAGS = {"TagSet": [{"Key": "data-class", "Value": "doctor-probe"}]}


@dataclass
class ProbeResult:
    allowed: list[str] = field(default_factory=list)  # S3 action names, in the order tried
    refused: str | None = None  # the first action S3 refused
    code: str | None = None  # what S3 answered it with


def probe(client, bucket: str, key: str, kms_key_id: str | None, sponsor: str) -> ProbeResult:
    """Try PutObject, PutObjectTagging and GetObject on ``key`` in turn, stopping at the first refusal."""
    steps = (
        (
            "PutObject",
            lambda: client.put_object(Bucket=bucket, Key=key, Body=BODY, **encryption_args(kms_key_id)),
        ),
        ("PutObjectTagging", lambda: client.put_object_tagging(Bucket=bucket, Key=key, Tagging=TAGS)),
        ("GetObject", lambda: client.get_object(Bucket=bucket, Key=key)["Body"].read()),
    )
    result, version = ProbeResult(), None
    with translated(sponsor, f"probing s3://{bucket}/{key}"):
        for action, call in steps:
            try:
                reply = call()
            except ClientError as exc:
                result.refused, result.code = action, error_code(exc)
                break
            if action == "PutObject":
                version = reply.get("VersionId")
            result.allowed.append(action)
    if result.allowed:
        _remove(client, bucket, key, version)
    return result


def _remove(client, bucket: str, key: str, version: str | None) -> None:
    """Delete the probe's own version (no delete marker left); Object Lock may forbid it."""
    try:
        if version:
            client.delete_object(Bucket=bucket, Key=key, VersionId=version)
        else:
            client.delete_object(Bucket=bucket, Key=key)
    except ClientError:
        pass  # locked by Object Lock or not permitted: the probe is tiny and tagged doctor-probe


def read_answer(client, bucket: str, key: str, sponsor: str) -> str:
    """What S3 answers this identity's GET of ``key``, a key that does not exist: its error code.

    ``AccessDenied`` means the read was refused; ``NoSuchKey`` means it was
    allowed (S3 says an object is missing only to whom may read and list it).
    Nothing is read: the key is not there. Anything but an S3 answer is raised
    as s3_errors.translate words it.
    """
    with translated(sponsor, f"reading s3://{bucket}/{key}"):
        try:
            client.get_object(Bucket=bucket, Key=key, Range="bytes=0-0")
        except ClientError as exc:
            return error_code(exc) or "unknown"
    return "found"  # a key made of a random uuid, there: nothing to conclude
