"""write_log: the JSON deployment log, uploaded when enabled and always written locally.

The local write comes last and cannot be skipped by an S3 failure: if the
upload fails, the local log says so (``log_location: local-only`` and
``log_upload_error``) and the run is marked failed. An uploaded log carries
the key and SHA-256 of the previous one (hht_archival/audit_chain.py).
"""

from __future__ import annotations

from pathlib import Path

from blocks.config import SponsorConfig
from hht_archival.adapters import s3
from hht_archival.audit_chain import Link, previous_link
from hht_archival.errors import one_sentence
from hht_archival.naming import RunNames
from hht_archival.progress import announce
from hht_archival.record import LOCAL_ONLY, DeploymentLog, utc_now_iso, write_local_log
from tasks import archival_task


@archival_task(name="write_log")
def write_log(
    config: SponsorConfig, names: RunNames, record: DeploymentLog, upload: bool
) -> tuple[DeploymentLog, Path]:
    record = record.model_copy(update={"finished_at": utc_now_iso()})
    if upload:
        location = f"s3://{config.audit_logs_bucket}/{names.log_key}"
        try:
            client = s3.make_client(config.region, config.aws_credentials)
            link = _previous_link(client, config, names)
            uploaded = record.model_copy(
                update={
                    "log_location": location,
                    "previous_log": link.key,
                    "previous_log_sha256": link.sha256,
                }
            )
            s3.put_json(
                client,
                config.audit_logs_bucket,
                names.log_key,
                uploaded.to_json().encode("utf-8"),
                tags=names.retention_tags("deployment-log", record.backup_sha256),
                sponsor=config.sponsor,
                kms_key_id=config.sse_kms_key_id,
            )
            record = uploaded
        except Exception as exc:
            reason = one_sentence(exc)
            record = record.model_copy(
                update={
                    "log_location": LOCAL_ONLY,
                    "log_upload_error": reason,
                    "status": "failed",
                    "error": record.error or reason,
                }
            )
    path = write_local_log(config.log_dir, names.log_filename, record.to_json())
    announce("write_log: %s (S3: %s)", path, record.log_location)
    return record, path


def _previous_link(client, config: SponsorConfig, names: RunNames) -> Link:
    """The link to the previous log; without it the log is not uploaded (a gap is worse than a delay)."""
    try:
        return previous_link(client, config.audit_logs_bucket, config.environment, names.log_key)
    except Exception as exc:
        action = f"reading the previous log in s3://{config.audit_logs_bucket}"
        raise s3.translate(exc, config.sponsor, action) from exc
