"""The stream itself (dump | compress | upload), without an orchestrator: parts, memory, failures.

Each test pushes bytes through the real stages (ISA-L gzip, the multipart
upload to moto on loopback) and checks what a user would: every byte in S3,
parts within S3's count, memory held by the stream not growing with the
dump, and nothing at the key when the stream fails.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator

import pytest
from isal import igzip

from hht_archival.adapters.codecs import CHUNK, FORMATS, compress_stream
from hht_archival.adapters.pipe import BoundedPipe, run_stages, stream_through
from hht_archival.adapters.s3 import plan_parts, upload_stream
from tasks.stream import PIPE_CAPACITY
from tests.conftest import BACKUPS
from tests.support.s3server import list_keys, open_multipart_uploads

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


def stream(chunks, backup_format: str, client, plan, part_sizes: list[int] | None = None):
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
            client, packed, BACKUPS, KEY, sponsor="titan", metadata={}, plan=plan, on_part=record_part
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
    part_sizes.append(total - sum(part_sizes))  # the last part is not reported by on_part
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

    bound = 2 * PIPE_CAPACITY + plan.size_of(1) + 2 * CHUNK  # the two pipes and one part being filled
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
