"""compress: compress the spool for the backup format (ISA-L gzip by default), hashing what is written.

The raw spool is removed afterwards; pg_dump's custom format is compressed already and only hashed.
"""

from __future__ import annotations

import time

from blocks.config import SponsorConfig
from hht_archival.adapters.codecs import FORMATS, pack
from hht_archival.adapters.gzip_stream import Compressed
from hht_archival.adapters.postgres import DumpResult
from hht_archival.progress import announce, human_size
from tasks import archival_task


@archival_task(name="compress")
def compress(config: SponsorConfig, dumped: DumpResult) -> Compressed:
    started = time.monotonic()
    result = pack(dumped.path, FORMATS[config.backup_format])
    if result.path != dumped.path:
        dumped.path.unlink()
    announce(
        "compress: %s -> %s (sha256 %s) in %.1f s",
        human_size(result.raw_size),
        human_size(result.size),
        result.sha256,
        time.monotonic() - started,
    )
    return result
