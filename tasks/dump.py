"""dump: pg_dump the sponsor's database into a spool file in the run's private work directory."""

from __future__ import annotations

import time
from pathlib import Path

from blocks.config import SponsorConfig
from hht_archival.adapters.codecs import FORMATS
from hht_archival.adapters.postgres import DumpResult, dump_database, mask_url
from hht_archival.errors import ConfigError
from hht_archival.progress import announce, human_size
from tasks import archival_task


@archival_task(name="dump", tags=["hht-archival-dump"])
def dump(config: SponsorConfig, work_dir: Path) -> DumpResult:
    if config.database_url is None:
        raise ConfigError(
            f"DATABASE_URL is not set for sponsor {config.sponsor}; archival is enabled, so set it "
            "(doppler secrets set DATABASE_URL=...) or name a Secret block in the sponsor block."
        )
    url = config.database_url.get_secret_value()
    started = time.monotonic()
    fmt = FORMATS[config.backup_format]
    result = dump_database(
        url,
        work_dir / "dump.sql",
        config.sponsor,
        count_rows=config.record_row_counts,
        custom_format=fmt.pg_dump_format == "custom",
    )
    announce("dump: %s of %s in %.1f s", human_size(result.size), mask_url(url), time.monotonic() - started)
    return result
