"""compress: gzip the spool (ISA-L), hashing what is written; the raw spool is removed afterwards."""

from __future__ import annotations

import time

from hht_archival.adapters.gzip_stream import Compressed, compress_file
from hht_archival.adapters.postgres import DumpResult
from hht_archival.progress import announce, human_size
from tasks import archival_task


@archival_task(name="compress")
def compress(dumped: DumpResult) -> Compressed:
    started = time.monotonic()
    target = dumped.path.with_name(dumped.path.name + ".gz")
    result = compress_file(dumped.path, target)
    dumped.path.unlink()
    announce(
        "compress: %s -> %s (sha256 %s) in %.1f s",
        human_size(result.raw_size),
        human_size(result.size),
        result.sha256,
        time.monotonic() - started,
    )
    return result
