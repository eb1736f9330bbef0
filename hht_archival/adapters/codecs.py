"""Backup formats: how a dump is written, compressed, named and read back.

``sql.gz`` (plain SQL, ISA-L gzip) is the default: the seed's format, readable
by stock gunzip and psql. ``sql.zst`` is plain SQL in zstd: faster and smaller,
needs zstd to read. ``dump`` is pg_dump's custom format (compressed by pg_dump
itself), for ``pg_restore`` and its selective and parallel restores.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import zstandard
from isal import igzip

from hht_archival.adapters.gzip_stream import CHUNK, Compressed, HashingWriter, compress_file, sha256_of

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


def format_for_key(key: str) -> BackupFormat:
    for fmt in FORMATS.values():
        if key.endswith("." + fmt.extension):
            return fmt
    raise ValueError(f"{key} is not a backup this tool writes")


def pack(src: Path, fmt: BackupFormat) -> Compressed:
    """Compress the spool for ``fmt`` (hashing what is written); the custom format is only hashed."""
    if fmt.name == "sql.gz":
        return compress_file(src, src.with_name(src.name + ".gz"))
    if fmt.name == "sql.zst":
        return _zstd_file(src, src.with_name(src.name + ".zst"))
    size = src.stat().st_size
    return Compressed(path=src, size=size, sha256=sha256_of(src), raw_size=size)


def _zstd_file(src: Path, dst: Path) -> Compressed:
    raw_size = 0
    with src.open("rb") as reader, dst.open("wb") as raw_out:
        hashing = HashingWriter(raw_out)
        compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=-1)
        with compressor.stream_writer(hashing, closefd=False) as writer:
            while chunk := reader.read(CHUNK):
                raw_size += len(chunk)
                writer.write(chunk)
    return Compressed(path=dst, size=hashing.size, sha256=hashing.digest.hexdigest(), raw_size=raw_size)


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
