"""copy2: finish the second copy once its upload landed: tag and lock it, store its roles, upload its log.

Why one task after the first copy's steps: the second copy gets exactly what
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
def finish_second_copy(
    config: SponsorConfig, names: RunNames, sha256: str, roles: DatabaseRoles, record: DeploymentLog
) -> SecondCopyRecord:
    """Tag and lock the second copy's backup, store its roles, then upload its log (in its own chain)."""
    there = at_copy(config, 2)
    landed = tag.fn(there, names, sha256)
    stored = store_roles.fn(there, names, roles)
    until = _iso(landed.locked_until)
    own = record.model_copy(
        update={
            "copy_name": there.copy_name,
            "region": there.region,
            "backups_bucket": there.backups_bucket,
            "audit_logs_bucket": there.audit_logs_bucket,
            "backup_location": f"s3://{there.backups_bucket}/{names.backup_key}",
            "roles_location": stored.location,
            "object_lock_retain_until": until,
            "second_copy": None,
        }
    )
    uploaded = upload_log(there, names, own)
    announce("copy2: %s archived; its log is %s", config.second.describe(), uploaded.log_location)
    return SecondCopyRecord(
        name=there.copy_name,
        where=config.second.describe(),
        status="archived",
        backup_location=own.backup_location,
        roles_location=stored.location,
        log_location=uploaded.log_location,
        object_lock_retain_until=until,
    )


def second_copy_record(run, streamed, sha256: str) -> SecondCopyRecord | None:
    """The run's second copy, finished where its upload landed, as its log records it; None: one copy.

    ``run`` is flows/pipeline.Run (its record already says archived, for the second copy's log).
    """
    second: SecondStream | None = streamed.second
    if second is None:
        return None
    sent = {"waited_seconds": second.waited_seconds}
    if second.sent is not None:
        sent.update(upload_parts=second.sent.parts, s3_retries=second.sent.retries)
        try:
            done = run.step(finish_second_copy)(
                run.config, run.names, sha256, streamed.dumped.roles, run.record
            )
            return done.model_copy(update=sent)
        except Exception as exc:
            error = (
                f"The second copy {second.where} of sponsor {run.config.sponsor} was uploaded but not "
                f"finished ({one_sentence(exc).rstrip('.')}); the first copy is archived and intact."
            )
            announce("⚠️  %s", error)
            return SecondCopyRecord(
                name=second.name, where=second.where, status="failed", error=error, **sent
            )
    return SecondCopyRecord(name=second.name, where=second.where, status="failed", error=second.error, **sent)


def _iso(moment) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None
