"""The stream itself (dump | compress | upload), without an orchestrator: parts, memory, failures.

Each test pushes bytes through the real stages (ISA-L gzip, the multipart
upload to moto on loopback) and checks what a user would: every byte in S3,
parts within S3's count, memory held by the stream not growing with the
dump, and nothing at the key when the stream fails.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Iterator

import pytest
from isal import igzip

from hht_archival.adapters.codecs import CHUNK, FORMATS, compress_stream
from hht_archival.adapters.pipe import BoundedPipe, StreamAborted, run_stages, stream_through
from hht_archival.adapters.s3 import plan_parts, upload_stream
from hht_archival.errors import ArchivalError
from tasks.stream import PIPE_CAPACITY
from tests.conftest import BACKUPS
from tests.support.faultproxy import (
    is_abort_multipart,
    is_complete_multipart,
    is_upload_part,
    upload_part_number,
)
from tests.support.s3server import list_keys, open_multipart_uploads, s3_client

MIB = 1024 * 1024
KEY = "backups/2026/11/28/backup-prod-test.sql.gz"


def diary_sql(total: int) -> Iterator[bytes]:
    """``total`` bytes of COPY lines shaped like diary entries (about 3:1 compressible), 1 MiB at a time.

    Four distinct megabytes, cycled: gzip looks back 32 KiB, so the ratio is that of fresh text.
    """
    for start in range(0, total, CHUNK):
        yield _DIARY_CHUNKS[(start // CHUNK) % len(_DIARY_CHUNKS)][: total - start]


def _diary_chunk(seed: int) -> bytes:
    rng = random.Random(seed)
    moods = ("calm", "tired", "anxious", "fine", "in pain", "hopeful")
    lines, size = [], 0
    while size < CHUNK:
        line = (
            f"{rng.getrandbits(128):032x}\t{rng.getrandbits(64):016x}\t2026-11-{rng.randint(1, 28):02d} "
            f'{rng.randint(0, 23):02d}:00:00+00\t{{"pain": {rng.randint(0, 10)}, "mood": '
            f'"{rng.choice(moods)}"}}\tSlept {rng.randint(2, 10)} hours, felt {rng.choice(moods)}.\n'
        )
        lines.append(line)
        size += len(line)
    return "".join(lines).encode()[:CHUNK]


_DIARY_CHUNKS = [_diary_chunk(seed) for seed in range(4)]


def random_bytes(total: int, seed: int = 3) -> Iterator[bytes]:
    rng = random.Random(seed)
    for start in range(0, total, CHUNK):
        yield rng.randbytes(min(CHUNK, total - start))


def stream(
    chunks, backup_format: str, client, plan, part_sizes: list[int] | None = None, parts_at_once: int = 2
):
    """Run source | compress | upload on threads; return the results and the stream's peak bytes held."""
    digest = hashlib.sha256()

    def produce(raw):
        for chunk in chunks:
            digest.update(chunk)
            raw.put(chunk)
        raw.close()

    def record_part(sent):
        if part_sizes is not None:
            part_sizes.append(sent.size - sum(part_sizes))

    results, pipes_peak = stream_through(
        produce,
        lambda raw, packed: compress_stream(raw, FORMATS[backup_format], packed),
        lambda packed: upload_stream(
            client,
            packed,
            BACKUPS,
            KEY,
            sponsor="titan",
            metadata={},
            plan=plan,
            on_part=record_part,
            parts_at_once=parts_at_once,
        ),
        PIPE_CAPACITY,
    )
    results["source_sha256"] = digest.hexdigest()
    results["peak_buffered"] = pipes_peak + results["upload"].peak_buffered
    return results


def test_a_stream_needing_more_parts_than_allowed_grows_its_parts_and_keeps_every_byte(s3):
    # S3 allows 10,000 parts; here 8, with 5 MiB parts: 60 MiB would need 12 parts at a fixed size.
    plan = plan_parts(5 * MIB, max_parts=8, max_object=64 * MIB)
    total = 60 * MIB
    assert total > 5 * MIB * 8
    part_sizes: list[int] = []

    done = stream(random_bytes(total), "dump", s3, plan, part_sizes)

    sent = done["upload"]
    assert sent.parts == len(part_sizes) <= 8
    assert part_sizes[0] == 5 * MIB and part_sizes[-2] > 5 * MIB  # they grew
    assert all(size == plan.size_of(n) for n, size in enumerate(part_sizes[:-1], start=1))
    body = s3.get_object(Bucket=BACKUPS, Key=KEY)["Body"].read()
    assert len(body) == total == sent.size
    assert hashlib.sha256(body).hexdigest() == done["source_sha256"] == done["compress"].sha256


def test_memory_held_by_the_stream_does_not_grow_with_the_dump(s3):
    plan = plan_parts(5 * MIB)
    small = stream(diary_sql(24 * MIB), "sql.gz", s3, plan)
    large = stream(diary_sql(240 * MIB), "sql.gz", s3, plan)

    # The two pipes, the part being filled and the two being sent (parts_at_once=2, the default).
    bound = 2 * PIPE_CAPACITY + 3 * plan.size_of(1) + 2 * CHUNK
    print(
        f"\npeak bytes held: 24 MiB dump {small['peak_buffered']:,}; 240 MiB dump {large['peak_buffered']:,}"
    )
    assert small["peak_buffered"] <= bound and large["peak_buffered"] <= bound
    assert large["compress"].raw_size == 10 * small["compress"].raw_size
    body = s3.get_object(Bucket=BACKUPS, Key=KEY)["Body"].read()
    assert hashlib.sha256(igzip.decompress(body)).hexdigest() == large["source_sha256"]


def test_a_source_failing_midway_aborts_the_upload_and_leaves_nothing_at_the_key(s3):
    def dies_after_30_mib():
        yield from random_bytes(30 * MIB)
        raise OSError("pg_dump: error: connection to server lost")

    with pytest.raises(OSError, match="connection to server lost"):
        stream(dies_after_30_mib(), "dump", s3, plan_parts(5 * MIB))

    assert list_keys(s3, BACKUPS) == []
    assert open_multipart_uploads(s3, BACKUPS) == []


def test_a_stream_shorter_than_a_part_is_one_put(s3):
    done = stream(diary_sql(MIB), "sql.zst", s3, plan_parts(5 * MIB))
    assert done["upload"].parts == 0
    head = s3.head_object(Bucket=BACKUPS, Key=KEY)
    assert head["ContentLength"] == done["compress"].size


def test_pipe_never_holds_more_than_its_capacity_while_a_slow_reader_drains_it():
    pipe = BoundedPipe(4 * CHUNK)
    received = []

    def produce():
        for _ in range(64):
            pipe.put(b"x" * CHUNK)
        pipe.close()

    def consume():
        for chunk in pipe:
            received.append(len(chunk))

    run_stages({"produce": produce, "consume": consume})
    assert sum(received) == 64 * CHUNK
    assert pipe.peak_bytes <= 4 * CHUNK


class _CountsPartsInFlight:
    """A client whose upload_part calls are counted while they are out: how many travel at once."""

    def __init__(self, client):
        self._client = client
        self._lock = threading.Lock()
        self._out = 0
        self.most_at_once = 0

    def __getattr__(self, name):
        return getattr(self._client, name)

    def upload_part(self, **kwargs):
        with self._lock:
            self._out += 1
            self.most_at_once = max(self.most_at_once, self._out)
        try:
            return self._client.upload_part(**kwargs)
        finally:
            with self._lock:
                self._out -= 1


@pytest.mark.parametrize("parts_at_once", [1, 2])
def test_parts_travel_at_once_up_to_the_setting_and_the_object_is_whole_and_in_order(
    s3, s3_proxy, parts_at_once
):
    s3_proxy.delay(is_upload_part, seconds=0.3, times=None)  # an S3 slow to answer: parts overlap
    client = _CountsPartsInFlight(s3_client(s3_proxy.endpoint))

    done = stream(random_bytes(32 * MIB), "dump", client, plan_parts(5 * MIB), parts_at_once=parts_at_once)

    assert done["upload"].parts == 7
    assert client.most_at_once == parts_at_once
    body = s3.get_object(Bucket=BACKUPS, Key=KEY)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == done["source_sha256"]
    assert open_multipart_uploads(s3, BACKUPS) == []


def test_a_part_refused_while_others_travel_stops_the_stream_and_leaves_nothing(s3, s3_proxy):
    s3_proxy.fail(upload_part_number(3), status=403, code="AccessDenied")
    s3_proxy.delay(is_upload_part, seconds=0.2, times=None)
    produced: list[int] = []
    total = 400 * MIB

    with pytest.raises(ArchivalError) as refused:
        stream(
            _counted(random_bytes(total), produced), "dump", s3_client(s3_proxy.endpoint), plan_parts(5 * MIB)
        )

    assert str(refused.value).startswith("Access denied for sponsor titan (upload to s3://")
    assert "s3:PutObject" in str(refused.value)  # what to grant
    assert sum(produced) < total / 4  # the source was stopped, not read to its end
    assert list_keys(s3, BACKUPS) == []
    assert open_multipart_uploads(s3, BACKUPS) == []
    requests = s3_proxy.requests
    aborted_at = next(i for i, request in enumerate(requests) if is_abort_multipart(*request))
    assert not any(is_upload_part(*request) for request in requests[aborted_at:])  # no part after the abort


def _counted(chunks: Iterator[bytes], produced: list[int]) -> Iterator[bytes]:
    for chunk in chunks:
        produced.append(len(chunk))
        yield chunk


def test_a_stop_after_the_stream_ended_while_its_last_parts_travel_completes_nothing(s3, s3_proxy):
    s3_proxy.delay(is_upload_part, seconds=1.0, times=None)
    pipe = BoundedPipe(64 * MIB)
    for chunk in random_bytes(12 * MIB):
        pipe.put(chunk)
    pipe.close()  # the dump ended whole; its last parts are still on their way when the stop comes
    stop = RuntimeError("stopped by SIGINT")
    threading.Timer(0.5, pipe.fail, args=(stop,)).start()

    with pytest.raises(StreamAborted) as stopped:
        upload_stream(
            s3_client(s3_proxy.endpoint),
            pipe,
            BACKUPS,
            KEY,
            sponsor="titan",
            metadata={},
            plan=plan_parts(5 * MIB),
        )

    assert stopped.value.cause is stop
    assert list_keys(s3, BACKUPS) == []
    assert open_multipart_uploads(s3, BACKUPS) == []
    assert not any(is_complete_multipart(*request) for request in s3_proxy.requests)
