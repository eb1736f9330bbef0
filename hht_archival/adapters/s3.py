"""S3 writes of archived objects: upload (single or multipart), tags and small JSON objects.

Contract: an upload either completes, leaving the whole object at its key, or
raises after aborting its multipart upload, leaving nothing at the key (S3 only
shows a multipart object once it is completed). A write whose answer carries
another checksum than the one sent raises ``TransientError`` (written again).
Every botocore error is raised as s3_errors.translate words it; transient
ones were already retried by botocore (s3_client.py), so nothing here retries.

The other S3 modules: s3_client (clients, re-exported here), s3_objects
(reads), bucket_settings and bucket_writes, s3_probe (doctor's).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
)

from hht_archival.adapters.parts import (  # noqa: F401  (re-exported: callers use s3.plan_parts)
    MAX_OBJECT_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    PartPlan,
    plan_parts,
)
from hht_archival.adapters.parts_in_flight import PartBuffer, PartsInFlight, SentPart, crc32_checksum
from hht_archival.adapters.pipe import StreamAborted
from hht_archival.adapters.s3_client import client_for, make_client  # noqa: F401  (re-exported)
from hht_archival.adapters.s3_errors import translate
from hht_archival.errors import TransientError

log = logging.getLogger(__name__)


def encryption_args(kms_key_id: str | None) -> dict[str, str]:
    if kms_key_id:
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}
    return {"ServerSideEncryption": "AES256"}


@dataclass
class StreamUpload:
    """What an upload sent: bytes, parts (0 for a single PUT), botocore's retries, most bytes held."""

    size: int = 0
    parts: int = 0
    retries: int = 0
    peak_buffered: int = 0
    checksum_confirmed: bool = False  # the store answered with the same checksum (False: it gave none)
    cpu: float = 0.0  # CPU seconds of the threads that sent it (part checksums, requests)


def upload_stream(
    client,
    chunks: Iterable[bytes],
    bucket: str,
    key: str,
    *,
    sponsor: str,
    metadata: Mapping[str, str],
    kms_key_id: str | None = None,
    content_type: str = "application/gzip",
    plan: PartPlan | None = None,
    tags: Mapping[str, str] | None = None,
    on_part: Callable[[StreamUpload], None] | None = None,
    before_complete: Callable[[], None] | None = None,
    parts_at_once: int = 2,
) -> StreamUpload:
    """Upload a stream to ``bucket/key``, encrypted, with every request's body checked by S3.

    A stream shorter than the first part goes in one PUT (with the object's
    SHA-256) once it has ended; a longer one in a multipart upload, each part
    with its CRC32 (the check the AWS SDKs default to: it catches corruption in
    transit at a fraction of SHA-256's cost, here and in S3), up to
    ``parts_at_once`` parts sent at once (parts_in_flight.py), completed only
    when the stream ends cleanly. The SHA-256 of the whole object, which an
    auditor and the restore command check, is computed by the compress stage
    and tagged afterwards. If the stream fails (``StreamAborted``) or S3 does,
    the parts still being sent end and the multipart upload is aborted: nothing
    ever appears at ``key`` but a whole object. A part that fails fails
    ``chunks`` at once where it is a pipe, so the stream stops. ``tags`` are set
    as the object is created, so it is never untagged. ``before_complete`` runs
    just before the object would appear at ``key``; if it raises, nothing does
    (a second copy waits there for the first: tee.py). ``on_part`` is called
    as each part is answered.
    """
    plan = plan or plan_parts()
    extra = {**encryption_args(kms_key_id), "Metadata": dict(metadata), "ContentType": content_type}
    if tags:
        extra["Tagging"] = urlencode(dict(tags))
    sent = StreamUpload()
    upload_id = None
    in_flight: PartsInFlight | None = None
    parts: list[dict] = []

    def took(answered: list[SentPart]) -> None:
        for part in answered:
            parts.append(part.entry)
            sent.size += part.size
            sent.parts = len(parts)
            sent.retries += part.retries
            sent.cpu += part.cpu
            if on_part is not None:
                on_part(sent)

    started = time.thread_time()
    try:
        pending = PartBuffer(plan.size_of(1))
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                if pending.full:  # and more follows, so it is not the last part: send it
                    if in_flight is None:
                        upload_id = _call(
                            sent,
                            client.create_multipart_upload,
                            Bucket=bucket,
                            Key=key,
                            ChecksumAlgorithm="CRC32",
                            **extra,
                        )["UploadId"]
                        in_flight = PartsInFlight(
                            client,
                            bucket,
                            key,
                            upload_id,
                            limit=parts_at_once,
                            sponsor=sponsor,
                            on_failure=getattr(chunks, "fail", None),
                        )
                    took(in_flight.send(pending))
                    pending = in_flight.buffer(plan.size_of(in_flight.numbered + 1))
                view = pending.fill(view)
                held = pending.held + (in_flight.held if in_flight is not None else 0)
                sent.peak_buffered = max(sent.peak_buffered, held)
        if before_complete is not None:
            before_complete()
        if in_flight is None:
            _unless_stopped(chunks)
            buffer = pending.data
            checksum = _b64(hashlib.sha256(buffer).digest())
            reply = _call(
                sent,
                client.put_object,
                Bucket=bucket,
                Key=key,
                Body=buffer,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=checksum,
                **extra,
            )
            sent.size = len(buffer)
            sent.checksum_confirmed = confirm_checksum(
                reply, "ChecksumSHA256", checksum, sponsor, bucket, key
            )
            return sent
        took(in_flight.send(pending))
        took(in_flight.finish())
        _unless_stopped(chunks)  # a stop that came while the last parts travelled: abort, not complete
        reply = _call(
            sent,
            client.complete_multipart_upload,
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )
        part_crcs = b"".join(base64.b64decode(part["ChecksumCRC32"]) for part in parts)
        composite = crc32_checksum(part_crcs)  # what S3 answers: CRC32 of the parts' CRC32s
        sent.checksum_confirmed = confirm_checksum(reply, "ChecksumCRC32", composite, sponsor, bucket, key)
        return sent
    except BaseException as exc:
        if in_flight is not None:
            in_flight.settle()  # no part may land after the abort
        if upload_id is not None:
            abort_quietly(client, bucket, key, upload_id, sponsor)
        if isinstance(exc, StreamAborted) and in_flight is not None and exc.cause in in_flight.failures:
            raise exc.cause from None  # a part failed and stopped the stream: that failure is the cause
        if isinstance(exc, ClientError | BotoCoreError):
            raise translate(exc, sponsor, f"upload to s3://{bucket}/{key}") from exc
        raise
    finally:
        sent.cpu += time.thread_time() - started


def _unless_stopped(chunks: Iterable[bytes]) -> None:
    """Raise the stream's failure if it failed after its last chunk was read (a Ctrl-C, a stage's error).

    Why: once the stream has ended, the upload reads nothing more from it and
    would not see a stop that came while its last parts were still travelling;
    it would complete the object of a run that reports itself stopped.
    """
    failure = getattr(chunks, "failure", None)
    if failure is not None:
        raise StreamAborted(failure)


def _call(sent: StreamUpload, operation, **kwargs) -> dict:
    """Call S3, counting the retries botocore made (throttling, 5xx, resets) before it succeeded."""
    reply = operation(**kwargs)
    sent.retries += reply.get("ResponseMetadata", {}).get("RetryAttempts", 0)
    return reply


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
    metadata: Mapping[str, str] | None = None,
    content_type: str = "application/json",
) -> None:
    """Write a small JSON object (or another small document), tagged at creation, its SHA-256 checked by S3.

    The tags ride on the PUT (``x-amz-tagging``), which some S3-compatible
    stores ignore: hht_archival/landed.py reads them back. ``metadata`` is
    what must stay readable by HEAD once the object is cold.
    """
    checksum = _b64(hashlib.sha256(body).digest())
    try:
        reply = client.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ChecksumAlgorithm="SHA256",  # with the value: S3 keeps it, HEAD returns it; Object Lock needs it
            ChecksumSHA256=checksum,
            Tagging=urlencode(dict(tags)),
            Metadata=dict(metadata or {}),
            **encryption_args(kms_key_id),
        )
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, sponsor, f"upload to s3://{bucket}/{key}") from exc
    confirm_checksum(reply, "ChecksumSHA256", checksum, sponsor, bucket, key)


def confirm_checksum(reply: Mapping, field: str, sent: str, sponsor: str, bucket: str, key: str) -> bool:
    """Compare the checksum the store answered a write with to the one sent; False if it gave none.

    The answer to the write is the only read-back the archival role can have
    of a backup: reading its state (HEAD) needs s3:GetObject, which that role
    must not have on clinical data. A multipart object's CRC32 is the
    composite one (``VALUE-PARTS``).
    """
    answered = str(reply.get(field) or "").split("-", 1)[0]
    if not answered:
        return False
    if answered != sent:
        raise TransientError(
            f"s3://{bucket}/{key} of sponsor {sponsor} landed with another checksum than the one sent "
            f"({field} {answered}, sent {sent}); it is written again."
        )
    return True


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")
