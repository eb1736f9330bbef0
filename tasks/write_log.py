"""write_log: the JSON deployment log, uploaded when enabled and always written locally.

The local write comes last and cannot be skipped by an S3 failure: if the
upload fails, the local log says so (``log_location: local-only`` and
``log_upload_error``) and the run is marked failed. Because this step handles
its own failure, Prefect's task retry would never see a throttled upload: the
upload is retried here, with the same policy as every task (transient
failures only, doubling delays with jitter).

An uploaded log carries the key and SHA-256 of the previous one, found
without reading any old log (hht_archival/audit_chain.py), and keeps its own
SHA-256 in its metadata, where HEAD reads it once it is cold, and in its
``sha256`` tag, as the backup and the roles object do theirs; the backup's
SHA-256 is in the log and in its metadata ``backup-sha256``, and so are the
few facts an evidence report needs once the log is cold (record.head_facts:
outcome, flag source, run, retention). After the PUT,
its tags and checksum are read back and it gets its own Object Lock retention
(hht_archival/landed.py); then the chain head is moved to it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from blocks.config import SponsorConfig
from hht_archival.adapters import s3
from hht_archival.audit_chain import LOG_SHA256, Link, advance_head, previous_link
from hht_archival.errors import ArchivalError, one_sentence
from hht_archival.landed import confirm, write_json
from hht_archival.naming import RunNames
from hht_archival.progress import announce
from hht_archival.record import LOCAL_ONLY, DeploymentLog, head_facts, utc_now_iso, write_local_log
from hht_archival.retry import call_retrying
from tasks import archival_task


@archival_task(name="write_log")
def write_log(
    config: SponsorConfig, names: RunNames, record: DeploymentLog, upload: bool
) -> tuple[DeploymentLog, Path]:
    record = record.model_copy(update={"finished_at": utc_now_iso()})
    if upload:
        try:
            record = upload_log(config, names, record)
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


def upload_log(config: SponsorConfig, names: RunNames, record: DeploymentLog) -> DeploymentLog:
    """Upload the log to ``config``'s audit bucket, in its chain; retried on transient failures.

    Also the second copy's log (flows/second_copy.py), with ``config`` at that copy: its own chain.
    """
    return call_retrying(
        lambda: _upload(config, names, record),
        config.task_retries,
        config.retry_delay_seconds,
        lambda message, *args: announce("write_log: " + message, *args),
    )


def _upload(config: SponsorConfig, names: RunNames, record: DeploymentLog) -> DeploymentLog:
    """Link, PUT, read back, lock, move the chain head; the whole of it is repeated on a transient failure."""
    bucket = config.audit_logs_bucket
    client = s3.client_for(config)
    link = _previous_link(client, config, names)
    uploaded, body, tags, metadata = log_object(record, names, bucket, link)
    sha256 = metadata[LOG_SHA256]
    landed = write_json(
        client,
        bucket,
        names.log_key,
        body,
        what="deployment log",
        tags=tags,
        sponsor=config.sponsor,
        kms_key_id=config.sse_kms_key_id,
        readable=True,
        retain_until=names.retain_until,
        metadata=metadata,
    )
    if landed.tags_set_again:
        dropped = ", ".join(landed.tags_set_again)
        announce("write_log: the S3 store dropped the log's tag(s) %s; they were set again", dropped)
    _move_chain_head(client, config, names, sha256)
    return uploaded


def log_object(
    record: DeploymentLog, names: RunNames, bucket: str, link: Link
) -> tuple[DeploymentLog, bytes, dict[str, str], dict[str, str]]:
    """The log as it is uploaded, linked to ``link``: (its record, its bytes, its tags, its metadata).

    Also how tests and benchmarks write a history of logs for days gone by
    (tests/support/history.py), so what they read is what a run writes.
    """
    uploaded = record.model_copy(
        update={
            "log_location": f"s3://{bucket}/{names.log_key}",
            "previous_log": link.key,
            "previous_log_sha256": link.sha256,
        }
    )
    body = uploaded.to_json().encode("utf-8")
    sha256 = hashlib.sha256(body).hexdigest()
    tags = names.retention_tags("deployment-log", sha256)  # its own hash, as every object's sha256 tag is
    metadata = {**head_facts(uploaded), LOG_SHA256: sha256}  # read by HEAD once the log is cold
    if record.backup_sha256:
        metadata["backup-sha256"] = record.backup_sha256  # a restore cross-checks it while the log is cold
    return uploaded, body, tags, metadata


def _move_chain_head(client, config: SponsorConfig, names: RunNames, sha256: str) -> None:
    """Point the chain head at this log. Its failure does not fail the run: the log is linked and
    archived, and the next run finds it anyway by listing the keys after the old chain head."""
    tags = {**names.retention_tags("log-chain-head"), "sha256": sha256}
    try:
        advance_head(
            client,
            config.audit_logs_bucket,
            config.environment,
            names.log_key,
            sha256,
            sponsor=config.sponsor,
            tags=tags,
            kms_key_id=config.sse_kms_key_id,
        )
        confirm(
            client,
            config.audit_logs_bucket,
            names.chain_head_key,
            what="log chain head",
            tags=tags,
            sponsor=config.sponsor,
        )
    except ArchivalError as exc:
        announce("write_log: the log chain head was not moved (%s); the next run lists past it", exc)


def _previous_link(client, config: SponsorConfig, names: RunNames) -> Link:
    """The link to the previous log; without it the log is not uploaded (a gap is worse than a delay)."""
    return previous_link(client, config.audit_logs_bucket, config.environment, names.log_key, config.sponsor)
