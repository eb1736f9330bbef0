"""archive-all-sponsors: the one-sponsor flow mapped over the sponsor manifest, a few at a time.

Each (sponsor, environment) is one parameter set and one flow run, so each
sponsor decides its own flag (the seed's gradual rollout) and one sponsor's
failure never stops another's: the others finish, then the run fails naming
the failed ones. From the command line the runs are child flows in this
process, at most ``max_parallel`` at once; the nightly deployment fans them
out as runs of a deployment that any worker of the pool takes (fan_out.py),
capped across workers by that deployment's concurrency limit.
"""

from collections import deque
from datetime import UTC, datetime
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.states import Cancelled

from blocks.config import load_settings
from blocks.manifest import SponsorRun, expand, load_manifest
from flows.archive_sponsor import archive_sponsor
from flows.endings import failed
from flows.fan_out import RESTARTED, archive_on_workers, never_started
from flows.form import Count, EnvironmentList, SponsorList, Text, field
from flows.parameters import ApplicationDeployment, Deployment, sponsor_parameters, sponsor_run_parameters
from flows.run_artifacts import publish_summary
from hht_archival.errors import ArchivalError, one_sentence
from hht_archival.progress import announce
from hht_archival.stopping import requested, signals_stop_runs
from hht_archival.unorchestrated import ArchivalStopped


class SponsorsFailed(ArchivalError):
    """Some sponsors failed; the message names each with its one-sentence reason."""

    def __init__(self, message: str, summary: list[dict[str, Any]]):
        super().__init__(message)
        self.summary = summary

    def __reduce__(self):
        return (SponsorsFailed, (str(self), self.summary))


class SponsorsStopped(SponsorsFailed):
    """The night was stopped by a signal; each sponsor's row says how far it got. The run ends Cancelled."""

    def __init__(self, message: str, summary: list[dict[str, Any]], signum: int):
        super().__init__(message, summary)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def __reduce__(self):
        return (SponsorsStopped, (str(self), self.summary, self.signum))


@task(name="archive-sponsor-run", cache_policy=NO_CACHE, persist_result=False, retries=0)
def archive_one(
    run: SponsorRun, deployment: ApplicationDeployment | None, log_dir: str | None
) -> dict[str, Any]:
    """Run the one-sponsor flow as a child run; its own tasks carry the retries."""
    return archive_sponsor(**sponsor_run_parameters(run), deployment=deployment, log_dir=log_dir)


def _summary_row(run: SponsorRun, outcome: Any) -> dict[str, Any]:
    record = outcome if isinstance(outcome, dict) else getattr(outcome, "record", None) or {}
    restarted = record.get(RESTARTED)
    record = {key: value for key, value in record.items() if key != RESTARTED}
    seconds = sum(step.get("seconds", 0) for step in record.get("steps", []))
    ended = "stopped" if isinstance(outcome, ArchivalStopped) else "failed"
    return {
        "sponsor": run.sponsor,
        "environment": run.environment,
        "status": record.get("status", "failed") if isinstance(outcome, dict) else ended,
        "flag_source": record.get("flag_source"),
        "size": record.get("backup_size", 0),
        "sha256": record.get("backup_sha256"),
        "location": record.get("backup_location", "not-configured"),
        "seconds": round(seconds, 2),
        "reason": _archived_reason(record, restarted) if isinstance(outcome, dict) else one_sentence(outcome),
        "local_log": record.get("local_log") or getattr(outcome, "log_path", None) and str(outcome.log_path),
        "flow_run": record.get("flow_run_id"),
        "log": record,  # the whole JSON log, for the command line; not in the summary artifact
    }


def _archived_reason(record: dict, restarted: str | None) -> str | None:
    """What the row of a sponsor that archived still has to say: a restart, a second copy that failed."""
    notes = [f"started again: {restarted}" if restarted else None]
    notes.append(f"degraded: {record['degraded']}" if record.get("degraded") else None)
    return "; ".join(note for note in notes if note) or None


def _run_name() -> str:
    return f"all-sponsors-{datetime.now(UTC):%Y%m%d-%H%M%S}"


@flow(name="archive-all-sponsors", flow_run_name=_run_name, log_prints=False, persist_result=False)
def archive_all_sponsors(
    manifest: Text = field("Sponsor manifest"),
    sponsors: SponsorList = field("Only these sponsors", default=[]),
    environments: EnvironmentList = field("Only these environments", default=[]),
    max_parallel: Count = field("Sponsors at once", default=0),
    deployment: Deployment = field("Application deployment", default={}),
    log_dir: Text = field("Local log directory"),
    fan_out: bool = field("On the pool's workers", default=False),
    night_hours: float = field("Hours to wait for the pool's runs", default=6.0),
) -> list[dict[str, Any]]:
    """Archive every sponsor of the manifest (or the chosen ones); fail if any sponsor failed.

    Args:
        manifest: Path of the sponsor manifest in the deployed commit. Empty: ARCHIVAL_MANIFEST, else
            sponsors.yaml.
        sponsors: Only these sponsors. Empty: every sponsor in the manifest.
        environments: Only these environments. Empty: each sponsor's own list.
        max_parallel: Sponsors archived at once in this run (not on the pool's workers). 0:
            ARCHIVAL_MAX_PARALLEL, else 4.
        deployment: The application deployment, recorded in every sponsor's log. Empty: none.
        log_dir: Local log directory; each sponsor's logs go to a subdirectory named after it.
        fan_out: Run each sponsor as a run of archive-sponsor/sponsor-run on any worker of the pool
            (the nightly deployment does), instead of in this process.
        night_hours: With fan_out, how long to wait for the sponsors' runs before reporting the
            ones without an outcome as lost.
    """
    try:
        settings = load_settings()
        path = manifest or str(settings.archival_manifest)
        runs = expand(load_manifest(path), sponsors or None, environments or None, path=path)
    except ArchivalError as exc:  # a bad manifest or filter: its one sentence, no traceback
        return failed(exc)
    log_dir = log_dir or None
    with signals_stop_runs():  # SIGINT/SIGTERM (a cancel from the UI): every sponsor's run stops too
        if fan_out:
            announce("Archiving %d sponsor run(s) on the pool's workers.", len(runs))
            child = sponsor_parameters(deployment=deployment, log_dir=log_dir)
            outcomes = archive_on_workers(runs, child, night_hours * 3600)
        else:
            limit = max_parallel or settings.archival_max_parallel
            announce("Archiving %d sponsor run(s), at most %d at a time.", len(runs), limit)
            outcomes = _archive_here(runs, deployment, log_dir, limit)
    finished = []
    for run, outcome in outcomes:
        finished.append(_summary_row(run, outcome))
        row = finished[-1]
        announce(
            "%s (%s): %s%s",
            run.sponsor,
            run.environment,
            row["status"],
            f" - {row['reason']}" if row["reason"] else "",
        )
    publish_summary(finished)
    stop = requested()
    if stop is not None:
        stopped = [row for row in finished if row["status"] == "stopped"]
        message = (
            f"{len(stopped)} of {len(finished)} sponsor runs were {stop}; the others ended on their own."
        )
        return Cancelled(message=message, data=SponsorsStopped(message, finished, stop.signum))
    broken = [row for row in finished if row["status"] == "failed"]
    if broken:
        reasons = "; ".join(f"{row['sponsor']} ({row['environment']}): {row['reason']}" for row in broken)
        message = f"{len(broken)} of {len(finished)} sponsor runs failed: {reasons}"
        return failed(SponsorsFailed(message, finished))
    return finished


def _archive_here(runs: list[SponsorRun], deployment, log_dir, limit: int) -> list[tuple[SponsorRun, Any]]:
    """Each sponsor as a child flow run in this process, at most ``limit`` at once.

    On a stop no new sponsor starts; the running ones stop on their own (the
    stop reaches their streams and lock waits, stopping.py) and are waited for,
    so each leaves its log; the ones that never started get a log saying so.
    """
    waiting, running, finished = deque(runs), {}, {}
    try:
        while waiting or running:
            while waiting and len(running) < limit and requested() is None:
                run = waiting.popleft()
                future = archive_one.with_options(
                    task_run_name=f"archive-{run.sponsor}-{run.environment}"
                ).submit(run, deployment, log_dir)
                running[future] = run
            done = next(as_completed(list(running)))
            run = running.pop(done)
            finished[(run.sponsor, run.environment)] = done.result(raise_on_failure=False)
    except BaseException:
        stop = requested()
        if stop is None:
            raise
        for future, run in running.items():  # seconds, unless one sleeps out a retry's back-off
            finished[(run.sponsor, run.environment)] = future.result(raise_on_failure=False)
        for run in waiting:
            finished[(run.sponsor, run.environment)] = never_started(run, stop, log_dir)
    return [(run, finished[(run.sponsor, run.environment)]) for run in runs]
