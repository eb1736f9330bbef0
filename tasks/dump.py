"""dump: run pg_dump for the sponsor's database, feeding its output to compress as it is written."""

from __future__ import annotations

import time

from blocks.config import SponsorConfig
from hht_archival.adapters.codecs import FORMATS
from hht_archival.adapters.pipe import BoundedPipe, failing
from hht_archival.adapters.postgres import DumpResult, mask_url, stream_dump
from hht_archival.errors import ConfigError
from hht_archival.progress import announce, human_size
from tasks import archival_task


@archival_task(name="dump", tags=["hht-archival-dump"])
def dump(config: SponsorConfig, out: BoundedPipe) -> DumpResult:
    if config.database_url is None:
        with failing(out):
            raise ConfigError(
                f"DATABASE_URL is not set for sponsor {config.sponsor}; archival is enabled, so set it "
                "(doppler secrets set DATABASE_URL=...) or name a Secret block in the sponsor block."
            )
    url = config.database_url.get_secret_value()
    started = time.monotonic()
    result = stream_dump(
        url,
        out,
        config.sponsor,
        count_rows=config.record_row_counts,
        custom_format=FORMATS[config.backup_format].pg_dump_format == "custom",
        role_passwords=config.role_passwords,
    )
    announce("dump: %s of %s in %.1f s", human_size(result.size), mask_url(url), time.monotonic() - started)
    return result
