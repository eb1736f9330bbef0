"""dump: run pg_dump for the sponsor's database, feeding its output to compress as it is written."""

from __future__ import annotations

import threading
import time

from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound

from blocks.config import SponsorConfig
from hht_archival.adapters.codecs import FORMATS
from hht_archival.adapters.pg_dump import DumpResult, stream_dump
from hht_archival.adapters.pipe import BoundedPipe, failing
from hht_archival.adapters.postgres import mask_url
from hht_archival.errors import ConfigError
from hht_archival.progress import announce, human_size
from tasks import archival_task

DUMP_LIMIT_TAG = "hht-archival-dump"


def dump_tags() -> list[str]:
    """The dump's tag when an operator has put a concurrency limit on it; else none.

    Why not always: Prefect asks its API for a slot for every tag a task
    carries, limit or not, and on a SQLite-backed server (Prefect's default,
    and the embedded one) that write fails with 503 now and then (a read
    transaction that cannot become a write), after which Prefect's client
    waits 2 s: seen in half of the runs here. Asked only where there is a
    limit, that cost falls on the runs that want the cap, not on every archive.
    """
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(f"tag:{DUMP_LIMIT_TAG}")
        except ObjectNotFound:
            return []
    return [DUMP_LIMIT_TAG]


@archival_task(name="dump")
def dump(config: SponsorConfig, out: BoundedPipe, running: threading.Event | None = None) -> DumpResult:
    """``running`` is set as the task starts: the stream creates the other stages' task runs only then."""
    if running is not None:
        running.set()
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
        lock_wait_seconds=config.table_lock_wait_seconds,
    )
    announce("dump: %s of %s in %.1f s", human_size(result.size), mask_url(url), time.monotonic() - started)
    return result
