"""One sponsor's pipeline: check_flag, then dump | compress | upload (streamed) -> tag -> roles -> write_log.

With a second copy, the stream uploads to both destinations and ``copy2`` finishes
the second (tasks/second_copy.py) before the first copy's log is written.

Kept apart from the flow's signature so the flow module reads as its
parameters, and this one as what happens; whatever happens, write_log runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from prefect.runtime import flow_run

from blocks.config import SponsorConfig
from flows.run_artifacts import publish_backup, publish_disabled
from flows.sponsor_lock import sponsor_lock
from hht_archival import stopping
from hht_archival.adapters.codecs import FORMATS
from hht_archival.adapters.postgres import mask_url
from hht_archival.banner import ENABLED_LINE, banner_for
from hht_archival.errors import one_sentence, prefect_api_lost
from hht_archival.naming import RunNames
from hht_archival.preflight import check_before_work, handed_over
from hht_archival.progress import announce
from hht_archival.record import DeploymentLog, StepRecord, new_log, utc_now_iso, write_local_log
from hht_archival.retry import retry_options
from hht_archival.stopping import RunStopped
from hht_archival.unorchestrated import ArchivalFailed, ArchivalStopped, stopped_sentence
from tasks.check_flag import check_flag
from tasks.roles import store_roles
from tasks.second_copy import second_copy_record, start_second_copy
from tasks.stream import archive_stream
from tasks.tag import tag
from tasks.write_log import write_log


@dataclass
class Run:
    """What every step of one run shares, so each helper takes the run and nothing else.

    The log record only grows: ``note`` is the one place it changes, and
    whichever path the run ends on writes the record as it stands.
    """

    config: SponsorConfig
    names: RunNames
    record: DeploymentLog
    log_path: Path | None = None  # where its local log was written, once it was

    def note(self, **changes: Any) -> None:
        self.record = self.record.model_copy(update=changes)

    def step(self, task):
        """The task as this run calls it: named for the sponsor in the UI, with the configured retries."""
        suffix = f"{self.config.sponsor}-{self.config.environment}"
        options = retry_options(self.config.task_retries, self.config.retry_delay_seconds)
        return task.with_options(task_run_name=f"{task.name}-{suffix}", **options)

    def result(self, final: DeploymentLog, path: Path) -> dict[str, Any]:
        return {**final.model_dump(mode="json"), "local_log": str(path)}


def run_pipeline(config: SponsorConfig, started_at: str) -> dict[str, Any]:
    names = RunNames.now(config.sponsor, config.environment)
    run = Run(config, names, new_log(config, names, started_at, str(flow_run.id) if flow_run.id else None))
    with stopping.on_exit_now(lambda: _last_words(run)):
        try:
            return _run(run)
        except RunStopped as stop:
            _stopped(run, stop)


def _run(run: Run) -> dict[str, Any]:
    config = run.config
    try:
        decision = run.step(check_flag)(config)
    except Exception as exc:
        _fail(run, exc, upload=False)
    run.note(s3_archival_enabled=decision.enabled, flag_source=decision.source)

    if not decision.enabled:
        banner = banner_for(config, decision.source)
        announce("%s", banner)
        _best_effort(publish_disabled, config.sponsor, config.environment, banner)
        return run.result(*_write_log(run, upload=False))

    announce("%s for sponsor %s (%s)", ENABLED_LINE, config.sponsor, config.environment)
    try:  # a database and an identity of the sponsor's own, both answering, before any work
        config.require_archivable()
        if not handed_over(config):  # the CLI has just checked it, before starting the engine
            check_before_work(config, announce)
    except Exception as exc:
        _fail(run, exc, upload=False)
    if config.database_url is not None:
        run.note(database=mask_url(config.database_url.get_secret_value()))
    try:
        with sponsor_lock(config):
            # Named inside the lock, and the lock held into the next second, so two runs of
            # one sponsor can never share a timestamp, hence never a key.
            extension = FORMATS[config.backup_format].extension
            run.names = RunNames.now(config.sponsor, config.environment, extension)
            run.note(timestamp=run.names.timestamp)
            try:
                return _archive_enabled(run)
            finally:
                _wait_for_next_second(run.names)
    except ArchivalFailed:
        raise
    except Exception as exc:  # the lock could not be had (or the API failed): nothing written to S3
        _fail(run, exc, upload=False)


def _archive_enabled(run: Run) -> dict[str, Any]:
    config, names = run.config, run.names
    steps: list[StepRecord] = []
    second = None
    try:
        # One parent task: it starts the dump's task run before compress's and upload's (tasks/stream.py).
        streamed = run.step(archive_stream)(config, names)
        steps += streamed.steps
        sha256 = streamed.packed.sha256
        second = start_second_copy(run, streamed, sha256)  # beside the first copy's tag and roles
        tagged = _timed(steps, "tag", lambda: run.step(tag)(config, names, sha256))
        roles = _timed(steps, "roles", lambda: run.step(store_roles)(config, names, streamed.dumped.roles))
    except Exception as exc:
        run.note(steps=steps)
        if second is not None:
            second.wait()  # the first copy failed: the run fails; its second copy's steps end first
        _fail(run, exc, upload=True)
    except RunStopped:
        run.note(steps=steps)
        raise

    run.note(
        status="archived",
        backup_location=f"s3://{config.backups_bucket}/{names.backup_key}",
        backup_size=streamed.packed.size,
        backup_sha256=sha256,
        backup_uncompressed_size=streamed.packed.raw_size,
        roles_location=roles.location,
        roles_sha256=roles.sha256,
        upload_parts=streamed.sent.parts,
        s3_retries=streamed.sent.retries,
        stream_attempts=streamed.attempts,
        retain_until=names.retain_until,
        object_lock_retain_until=_iso(tagged.locked_until),
        table_counts=streamed.dumped.table_counts,
        steps=steps,
    )
    started = time.monotonic()
    copy2 = second_copy_record(run, streamed, second)  # its failure degrades the run, never fails it
    if copy2 is not None:
        steps.append(StepRecord(step="copy2", seconds=round(time.monotonic() - started, 3)))
        run.note(second_copy=copy2, degraded=copy2.error if copy2.status == "failed" else None, steps=steps)
    final, path = _write_log(run, upload=True)
    if final.status == "failed":
        raise ArchivalFailed(
            final.error or "The deployment log could not be archived.", path, final.model_dump(mode="json")
        )
    _best_effort(publish_backup, final.model_dump(mode="json"), config)
    return run.result(final, path)


def _best_effort(publish, *args) -> None:
    """An artifact for the UI; the backup and its log are safe already, so a failure here is only said."""
    try:
        publish(*args)
    except Exception as exc:
        announce("An artifact for the Prefect UI could not be created (%s); the run is not affected.", exc)


def _write_log(run: Run, upload: bool) -> tuple[DeploymentLog, Path]:
    """Run write_log as a task; if Prefect cannot even run it (its API is gone), write the log anyway.

    write_log handles its own failures (an S3 error becomes ``log_upload_error``),
    so an exception here means the orchestrator failed, not the step: unless the
    step's local log shows it ran, the same work is done without Prefect,
    because a run must never end without its log.
    """
    config, names = run.config, run.names
    try:
        final, run.log_path = run.step(write_log)(config, names, run.record, upload=upload)
        return final, run.log_path
    except OSError as exc:  # the local write itself failed: a full or read-only log directory
        where = f"s3://{config.audit_logs_bucket}/{names.log_key}" if upload else None
        raise ArchivalFailed(
            f"The local deployment log could not be written to {config.log_dir} for sponsor "
            f"{config.sponsor} ({exc.strerror or exc}); free space there or set ARCHIVAL_LOG_DIR to a "
            f"writable directory{f' (the log reached {where})' if where else ''}.",
            None,
            run.record.model_dump(mode="json"),
        ) from exc
    except Exception as exc:
        written = Path(config.log_dir) / names.log_filename
        if written.exists():  # the step ran; only Prefect's bookkeeping of it failed
            return DeploymentLog.model_validate_json(written.read_text(encoding="utf-8")), written
        announce("write_log: Prefect could not run the step (%s); writing it directly", type(exc).__name__)
        final, run.log_path = write_log.fn(config, names, run.record, upload=upload)
        return final, run.log_path


def _stopped(run: Run, stop: RunStopped) -> NoReturn:
    """Record a stopped run locally, at once, then raise ArchivalStopped (the flow ends it Cancelled).

    Local only and without a task: a stop must end within seconds, and S3 or
    the Prefect API may be what the run was waiting on. The multipart upload
    was aborted and pg_dump ended before this (tasks/stream.py).
    """
    archived = run.record.backup_location if run.record.status == "archived" else None
    reason = stopped_sentence(stop, run.config.sponsor, run.config.environment, archived)
    if run.log_path is not None:  # stopped while its failure was being recorded: that log stands
        raise ArchivalStopped(reason, run.log_path, run.record.model_dump(mode="json"), stop.signum)
    run.note(status="failed", error=reason)
    final, run.log_path = write_log.fn(run.config, run.names, run.record, upload=False)
    raise ArchivalStopped(reason, run.log_path, final.model_dump(mode="json"), stop.signum)


def _last_words(run: Run) -> None:
    """A second signal exits at once: leave the run's local log, unless it is written already."""
    stop = stopping.requested()
    if run.log_path is not None or stop is None:
        return
    reason = stopped_sentence(stop, run.config.sponsor, run.config.environment)
    record = run.record.model_copy(update={"status": "failed", "error": reason, "finished_at": utc_now_iso()})
    write_local_log(run.config.log_dir, run.names.log_filename, record.to_json())


def _fail(run: Run, exc: BaseException, upload: bool) -> NoReturn:
    """Record the failure locally (and in the audit bucket when enabled), then raise ArchivalFailed.

    After a stop, whatever failed is its echo (a library may wrap the RunStopped
    it was interrupted by in an error of its own): the run was stopped.
    """
    stop = stopping.requested()
    if stop is not None:
        _stopped(run, stop)
    reason = prefect_api_lost(exc, f"sponsor {run.config.sponsor}", run.config.log_dir) or one_sentence(exc)
    run.note(status="failed", error=reason)
    final, path = _write_log(run, upload=upload)
    raise ArchivalFailed(reason, path, final.model_dump(mode="json")) from exc


def _iso(moment) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _wait_for_next_second(names: RunNames) -> None:
    while RunNames.now(names.sponsor, names.environment).stamp == names.stamp:
        time.sleep(0.05)


def _timed(steps: list[StepRecord], name: str, call):
    started = time.monotonic()
    result = call()
    steps.append(StepRecord(step=name, seconds=round(time.monotonic() - started, 3)))
    return result
