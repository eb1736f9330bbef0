"""upload: send the compressed stream to its final key in parts, encrypted, each part checksummed.

Nothing appears at the key until the dump has ended complete and the last part
is in: a failure anywhere aborts the multipart upload.
"""

from __future__ import annotations

import time

from blocks.config import SponsorConfig
from hht_archival.adapters import s3
from hht_archival.adapters.codecs import FORMATS
from hht_archival.adapters.pipe import BoundedPipe, failing
from hht_archival.adapters.tee import Tee
from hht_archival.naming import RunNames
from hht_archival.progress import announce, human_size
from tasks import archival_task

PROGRESS_EVERY_SECONDS = 10.0


@archival_task(name="upload")
def upload(
    config: SponsorConfig, names: RunNames, source: BoundedPipe, tee: Tee | None = None
) -> s3.StreamUpload:
    """``tee``: with a second copy, the first copy's upload says when it landed, the second's waits for it."""
    second = tee is not None and source is tee.second
    started = last_report = time.monotonic()
    location = f"s3://{config.backups_bucket}/{names.backup_key}"

    def report(sent: s3.StreamUpload) -> None:
        nonlocal last_report
        if time.monotonic() - last_report >= PROGRESS_EVERY_SECONDS:
            last_report = time.monotonic()
            announce("upload: %s sent in %d parts to %s", human_size(sent.size), sent.parts, location)

    with failing(source):
        sent = s3.upload_stream(
            s3.client_for(config),
            source,
            config.backups_bucket,
            names.backup_key,
            sponsor=config.sponsor,
            metadata={"sponsor": config.sponsor, "environment": config.environment},
            kms_key_id=config.sse_kms_key_id,
            plan=s3.plan_parts(config.part_size_mib * 1024 * 1024),
            parts_at_once=config.upload_concurrency,
            tags=names.retention_tags("database-backup"),
            content_type=FORMATS[config.backup_format].content_type,
            on_part=report,
            before_complete=tee.wait_for_first if second else None,
        )
    if tee is not None and not second:
        tee.first_landed()
    announce(
        "upload: %s to %s in %.1f s (%s, %d retries; %s)",
        human_size(sent.size),
        location,
        time.monotonic() - started,
        f"{sent.parts} parts, up to {config.upload_concurrency} at once" if sent.parts else "one PUT",
        sent.retries,
        "checksum confirmed by the store" if sent.checksum_confirmed else "the store answered no checksum",
    )
    return sent
