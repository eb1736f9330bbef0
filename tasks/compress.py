"""compress: compress the dump as it streams by (ISA-L gzip by default), hashing what goes to S3.

pg_dump's custom format is compressed already and only hashed.
"""

from __future__ import annotations

import time

from blocks.config import SponsorConfig
from hht_archival.adapters.codecs import FORMATS, Compressed, compress_stream
from hht_archival.adapters.pipe import BoundedPipe
from hht_archival.progress import announce, human_size
from tasks import archival_task


@archival_task(name="compress")
def compress(config: SponsorConfig, source: BoundedPipe, out: BoundedPipe) -> Compressed:
    started = time.monotonic()
    result = compress_stream(source, FORMATS[config.backup_format], out)
    announce(
        "compress: %s -> %s (sha256 %s) in %.1f s",
        human_size(result.raw_size),
        human_size(result.size),
        result.sha256,
        time.monotonic() - started,
    )
    return result
