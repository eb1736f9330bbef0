"""upload: send the compressed backup to its final key, encrypted, with its SHA-256 attached.

A backup large enough for multipart shows a progress artifact in the UI while it uploads.
"""

from __future__ import annotations

import time

from prefect.artifacts import create_progress_artifact, update_progress_artifact

from blocks.config import SponsorConfig
from hht_archival.adapters import s3
from hht_archival.adapters.codecs import FORMATS
from hht_archival.adapters.gzip_stream import Compressed
from hht_archival.naming import RunNames
from hht_archival.progress import announce, human_size
from tasks import archival_task


def _progress_reporter(config: SponsorConfig, compressed: Compressed, location: str):
    """Return a part-by-part progress callback, or None when the upload is a single PUT."""
    if not s3.uses_multipart(compressed.size, config.part_size_mib * 1024 * 1024):
        return None
    artifact_id = create_progress_artifact(
        progress=0.0,
        key=f"upload-{config.sponsor}-{config.environment}",
        description=f"Uploading {human_size(compressed.size)} to {location}",
    )

    def report(sent: int, total: int) -> None:
        update_progress_artifact(artifact_id=artifact_id, progress=round(100.0 * sent / total, 1))

    return report


@archival_task(name="upload")
def upload(config: SponsorConfig, names: RunNames, compressed: Compressed) -> str:
    started = time.monotonic()
    location = f"s3://{config.backups_bucket}/{names.backup_key}"
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
        on_progress=_progress_reporter(config, compressed, location),
        tags=names.retention_tags("database-backup", compressed.sha256),
        content_type=FORMATS[config.backup_format].content_type,
    )
    announce("upload: %s to %s in %.1f s", human_size(compressed.size), location, time.monotonic() - started)
    return location
