"""copy2 and copy2-log: finish the second copy once its upload landed: tag and lock it, store its roles,
then upload its log.

Why these steps: the second copy gets exactly what
the first gets (the same tags with the same SHA-256, its own Object Lock
retention, the roles object, a log in its own audit bucket whose hash chain
is verifiable on its own), by running the same steps with the configuration
at the second copy (blocks/second_copy.at_copy). Its failure never fails
the run: the first copy is archived, so the run ends archived but degraded,
with the sentence that names the destination (hht_archival/outcomes.py
alerts on it).
"""

from __future__ import annotations

from blocks.config import SponsorConfig
from blocks.second_copy import at_copy
from hht_archival.copy_record import SecondCopyRecord
from hht_archival.errors import one_sentence
from hht_archival.naming import RunNames
from hht_archival.progress import announce
from hht_archival.record import DeploymentLog
from hht_archival.roles import DatabaseRoles
from tasks import archival_task
from tasks.roles import store_roles
from tasks.second_stream import SecondStream
from tasks.tag import tag
from tasks.write_log import upload_log


@archival_task(name="copy2")
def land_second_copy(
    config: SponsorConfig, names: RunNames, sha256: str, roles: DatabaseRoles
) -> SecondCopyRecord:
    """Tag, read back and lock the second copy's backup, and store its roles object beside it.

    Runs beside the first copy's tag and roles (each destination answers on its own).
    """
    there = at_copy(config, 2)
    landed = tag.fn(there, names, sha256)
    stored = store_roles.fn(there, names, roles)
    return SecondCopyRecord(
        name=there.copy_name,
        where=config.second.describe(),
        status="archived",
        backup_location=f"s3://{there.backups_bucket}/{names.backup_key}",
        roles_location=stored.location,
        object_lock_retain_until=_iso(landed.locked_until),
    )


@archival_task(name="copy2-log")
def log_second_copy(
    config: SponsorConfig, names: RunNames, record: DeploymentLog, landed: SecondCopyRecord
) -> str:
    """Upload the run's log to the second copy's audit bucket, in its own chain; return its location.

    It says where this copy's backup and roles are, so that chain stands on its own.
    """
    there = at_copy(config, 2)
    own = record.model_copy(
        update={
            "copy_name": there.copy_name,
            "region": there.region,
            "backups_bucket": there.backups_bucket,
            "audit_logs_bucket": there.audit_logs_bucket,
            "backup_location": landed.backup_location,
            "roles_location": landed.roles_location,
            "object_lock_retain_until": landed.object_lock_retain_until,
            "second_copy": None,
        }
    )
    uploaded = upload_log(there, names, own)
    announce("copy2: %s archived; its log is %s", landed.where, uploaded.log_location)
    return uploaded.log_location


def start_second_copy(run, streamed, sha256: str):
    """Submit ``copy2`` where the second upload landed (it runs beside the first copy's tag and roles).

    Returns its future, or None; ``run`` is flows/pipeline.Run.
    """
    second: SecondStream | None = streamed.second
    if second is None or second.sent is None:
        return None
    return run.step(land_second_copy).submit(run.config, run.names, sha256, streamed.dumped.roles)


def second_copy_record(run, streamed, started) -> SecondCopyRecord | None:
    """The run's second copy as its log records it, its own log uploaded where it landed; None: one copy.

    Called once the run's record says archived (the second copy's log is that record, at the copy).
    """
    second: SecondStream | None = streamed.second
    if second is None:
        return None
    sent = {"waited_seconds": second.waited_seconds}
    if second.sent is None:
        return SecondCopyRecord(
            name=second.name, where=second.where, status="failed", error=second.error, **sent
        )
    sent.update(upload_parts=second.sent.parts, s3_retries=second.sent.retries)
    try:
        landed = started.result()
        log_location = run.step(log_second_copy)(run.config, run.names, run.record, landed)
        return landed.model_copy(update={**sent, "log_location": log_location})
    except Exception as exc:
        error = (
            f"The second copy {second.where} of sponsor {run.config.sponsor} was uploaded but not "
            f"finished ({one_sentence(exc).rstrip('.')}); the first copy is archived and intact."
        )
        announce("⚠️  %s", error)
        return SecondCopyRecord(name=second.name, where=second.where, status="failed", error=error, **sent)


def _iso(moment) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None
