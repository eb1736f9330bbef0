"""Backup formats: how a dump is compressed on its way to S3, named, and read back.

``sql.gz`` (plain SQL, ISA-L gzip) is the default: the seed's format, readable
by stock gunzip and psql. ISA-L's igzip writes standard gzip about ten times
faster than zlib level 6 here at a similar ratio (benchmarks/compress_codecs.py).
``sql.zst`` is plain SQL in zstd: faster and smaller, needs zstd to read.
``dump`` is pg_dump's custom format (compressed by pg_dump itself), for
``pg_restore`` and its selective and parallel restores. Whatever the format,
the SHA-256 is of the bytes that go to S3, which is what an auditor can check.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import zstandard
from isal import igzip

from hht_archival.adapters.pipe import BoundedPipe, PipeWriter, failing

CHUNK = 1024 * 1024
ISAL_LEVEL = 1  # fastest and, on diary-shaped SQL, no worse a ratio: benchmarks/compress_codecs.py
ZSTD_LEVEL = 3


@dataclass(frozen=True)
class BackupFormat:
    name: str
    extension: str
    pg_dump_format: str  # plain | custom
    content_type: str


FORMATS = {
    "sql.gz": BackupFormat("sql.gz", "sql.gz", "plain", "application/gzip"),
    "sql.zst": BackupFormat("sql.zst", "sql.zst", "plain", "application/zstd"),
    "dump": BackupFormat("dump", "dump", "custom", "application/octet-stream"),
}


@dataclass(frozen=True)
class Compressed:
    size: int  # bytes sent on to S3
    sha256: str  # of those bytes
    raw_size: int  # bytes pg_dump wrote
    cpu: float = 0.0  # CPU seconds of the thread that compressed and hashed them


class HashingWriter:
    """A write-only file that hashes and counts what passes through it."""

    def __init__(self, target):
        self._target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self._target.write(data)

    def flush(self) -> None:
        self._target.flush()


def format_for_key(key: str) -> BackupFormat:
    for fmt in FORMATS.values():
        if key.endswith("." + fmt.extension):
            return fmt
    raise ValueError(f"{key} is not a backup this tool writes")


def compress_stream(source: BoundedPipe, fmt: BackupFormat, out: BoundedPipe) -> Compressed:
    """Compress ``source`` for ``fmt`` into ``out``, hashing what is written; close ``out`` at the end.

    The custom format is compressed by pg_dump already and only hashed. On any
    failure both pipes are failed: pg_dump stops, and the upload aborts instead
    of completing.
    """
    started = time.thread_time()
    with failing(source, out):
        result = _compress(source, fmt, HashingWriter(PipeWriter(out)))
    out.close()
    return replace(result, cpu=time.thread_time() - started)


def _compress(chunks: Iterable[bytes], fmt: BackupFormat, hashing: HashingWriter) -> Compressed:
    raw_size = 0
    if fmt.name == "sql.gz":
        with igzip.GzipFile(fileobj=hashing, mode="wb", compresslevel=ISAL_LEVEL, mtime=0) as writer:
            for chunk in chunks:
                raw_size += len(chunk)
                writer.write(chunk)
    elif fmt.name == "sql.zst":
        compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=-1)
        with compressor.stream_writer(hashing, closefd=False) as writer:
            for chunk in chunks:
                raw_size += len(chunk)
                writer.write(chunk)
    else:
        for chunk in chunks:
            raw_size += len(chunk)
            hashing.write(chunk)
    return Compressed(size=hashing.size, sha256=hashing.digest.hexdigest(), raw_size=raw_size)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def plain_sql_reader(path: Path, fmt: BackupFormat) -> Iterator[BinaryIO]:
    """A stream of the SQL inside a plain-format backup, decompressed on the fly."""
    if fmt.name == "sql.gz":
        with igzip.open(path, "rb") as source:
            yield source
    elif fmt.name == "sql.zst":
        with path.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as source:
            yield source
    else:
        raise ValueError(f"{fmt.name} is not plain SQL")
