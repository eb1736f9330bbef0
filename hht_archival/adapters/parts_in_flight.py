"""The parts of a multipart upload on their way to S3: a few sent at once, each from a buffer of its own.

Why: one connection carries what one TCP stream to S3 can, and a part's
sender waits for S3's answer before it may send another. Sent one at a time,
the parts fell behind the compressor wherever a connection is slower than
the dump (a distant region, a shared link): through a relay that held each
connection to 30 MB/s, a 2 M-row archive through the command took 10.8 s with
one part at a time and 7.8 s with two (benchmarks/upload_concurrency.py). AWS's performance
guidelines say the same: scale connections horizontally. Memory is one
buffer per part in flight plus the one being filled, each kept and filled
again, so it stays flat.

The caller (s3.upload_stream) fills parts and hands them over in order;
answers are taken in part order, so the list of parts it completes with is
in order too. A part that fails fails ``on_failure`` at once (the stream's
pipe, so pg_dump stops rather than dumping into an upload that is lost), and
its error is raised to the caller at its next hand-over or at ``finish``.
"""

from __future__ import annotations

import base64
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

from botocore.exceptions import BotoCoreError, ClientError
from isal.isal_zlib import crc32

from hht_archival.adapters.s3_errors import translate


def crc32_checksum(data) -> str:
    """S3's ChecksumCRC32 of ``data``: the CRC32, big-endian, in base64."""
    return base64.b64encode(crc32(data).to_bytes(4, "big")).decode()


class PartBuffer:
    """One part's bytes, filled in place and sent as they are, then filled again.

    Why: each byte is copied once on its way to the request, into memory that
    stays mapped from part to part. Slicing a growing buffer and turning the
    slice into bytes copied every part twice more, each time into fresh pages
    the kernel had to zero. The buffer grows as the first part fills, so a
    small stream holds only its own bytes.
    """

    def __init__(self, size: int):
        self._size = size
        self._buffer = bytearray()
        self.filled = 0

    @property
    def full(self) -> bool:
        return self.filled == self._size

    @property
    def held(self) -> int:
        """Bytes of memory the buffer holds."""
        return len(self._buffer)

    @property
    def data(self) -> bytearray:
        """The bytes filled so far: the buffer itself, or a copy of its start (a last, shorter part)."""
        return self._buffer if self.filled == len(self._buffer) else self._buffer[: self.filled]

    def fill(self, view: memoryview) -> memoryview:
        """Copy as much of ``view`` as fits; return what did not."""
        taken = min(len(view), self._size - self.filled)
        self._buffer[self.filled : self.filled + taken] = view[:taken]  # in place, or growing the first time
        self.filled += taken
        return view[taken:]

    def empty(self, size: int) -> None:
        """Start the next part, of ``size`` bytes (the plan grows the parts of a very large stream)."""
        if size != self._size:
            self._size, self._buffer = size, bytearray()
        self.filled = 0


class SentPart:
    """What S3 answered for one part, and what sending it took."""

    def __init__(self, entry: dict, size: int, retries: int, cpu: float):
        self.entry = entry  # PartNumber, ETag, ChecksumCRC32: what CompleteMultipartUpload lists
        self.size = size
        self.retries = retries
        self.cpu = cpu


class PartsInFlight:
    """At most ``limit`` parts being sent at once, on threads of their own, answered in part order."""

    def __init__(
        self,
        client,
        bucket: str,
        key: str,
        upload_id: str,
        *,
        limit: int,
        sponsor: str,
        on_failure: Callable[[BaseException], object] | None = None,
    ):
        self._client, self._bucket, self._key, self._upload_id = client, bucket, key, upload_id
        self._limit = max(1, limit)
        self._sponsor = sponsor
        self._on_failure = on_failure
        self._pool = ThreadPoolExecutor(max_workers=self._limit, thread_name_prefix="upload-part")
        self._sending: deque[tuple[Future, PartBuffer]] = deque()
        self._spare: list[PartBuffer] = []
        self.numbered = 0  # parts handed over so far
        self.failures: list[BaseException] = []  # of parts, as they failed

    @property
    def held(self) -> int:
        """Bytes held by the buffers of parts being sent and of spare ones."""
        return sum(buffer.held for _, buffer in self._sending) + sum(buffer.held for buffer in self._spare)

    def send(self, buffer: PartBuffer) -> list[SentPart]:
        """Hand over a filled part; return the parts answered meanwhile (waiting while ``limit`` are out)."""
        answered = []
        while len(self._sending) >= self._limit:
            answered.append(self._take_oldest())
        self.numbered += 1
        future = self._pool.submit(self._send, self.numbered, buffer.data)
        future.add_done_callback(self._note_failure)
        self._sending.append((future, buffer))
        return answered

    def buffer(self, size: int) -> PartBuffer:
        """A buffer for the next part: a spare one of an answered part if there is one, else a new one."""
        buffer = self._spare.pop() if self._spare else PartBuffer(size)
        buffer.empty(size)
        return buffer

    def finish(self) -> list[SentPart]:
        """Wait for every part still out; return their answers in order, or raise the first failure."""
        answered = []
        try:
            while self._sending:
                answered.append(self._take_oldest())
        finally:
            self.settle()
        return answered

    def settle(self) -> None:
        """Let every part still out end, whatever its outcome, before the upload is completed or aborted.

        Why: a part still being sent when the upload is aborted could land after
        the abort and keep its bytes stored (S3 says to abort again then).
        """
        wait([future for future, _ in self._sending])
        self._sending.clear()
        self._pool.shutdown(wait=True)

    def _take_oldest(self) -> SentPart:
        future, buffer = self._sending.popleft()
        answer = future.result()  # raises the part's failure
        self._spare.append(buffer)
        return answer

    def _note_failure(self, future: Future) -> None:
        error = future.exception()
        if error is not None:
            self.failures.append(error)
            if self._on_failure is not None:
                self._on_failure(error)

    def _send(self, number: int, body) -> SentPart:
        started = time.thread_time()
        checksum = crc32_checksum(body)
        try:
            reply = self._client.upload_part(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=body,  # a bytearray goes out as it is; bytes would be copied onto the request's headers
                ChecksumCRC32=checksum,
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, self._sponsor, f"upload to s3://{self._bucket}/{self._key}") from exc
        entry = {"PartNumber": number, "ETag": reply["ETag"], "ChecksumCRC32": checksum}
        retries = reply.get("ResponseMetadata", {}).get("RetryAttempts", 0)
        return SentPart(entry, len(body), retries, time.thread_time() - started)
