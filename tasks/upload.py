"""upload: send the compressed backup to its final key, encrypted, with its SHA-256 attached."""

from __future__ import annotations

import time

from blocks.config import SponsorConfig
from hht_archival.adapters import s3
from hht_archival.adapters.gzip_stream import Compressed
from hht_archival.naming import RunNames
from hht_archival.progress import announce, human_size
from tasks import archival_task


@archival_task(name="upload")
def upload(config: SponsorConfig, names: RunNames, compressed: Compressed) -> str:
    started = time.monotonic()
    client = s3.make_client(config.region, config.aws_credentials)
    s3.upload_file(
        client,
        compressed.path,
        config.backups_bucket,
        names.backup_key,
        sha256_hex=compressed.sha256,
        sponsor=config.sponsor,
        metadata={"sponsor": config.sponsor, "environment": config.environment},
        kms_key_id=config.sse_kms_key_id,
        min_part_size=config.part_size_mib * 1024 * 1024,
    )
    location = f"s3://{config.backups_bucket}/{names.backup_key}"
    announce("upload: %s to %s in %.1f s", human_size(compressed.size), location, time.monotonic() - started)
    return location
