"""archive-all-sponsors: the one-sponsor flow mapped over the sponsor manifest, a few at a time.

Each (sponsor, environment) is one parameter set and one child flow run, so
each sponsor decides its own flag (the seed's gradual rollout) and one
sponsor's failure never stops another's: the others finish, then the run
fails naming the failed ones. At most ``max_parallel`` run at once, so fifty
sponsors never open fifty pg_dumps.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed

from blocks.config import load_settings
from blocks.manifest import SponsorRun, expand, load_manifest
from flows.archive_sponsor import ApplicationDeployment, archive_sponsor
from hht_archival.errors import ArchivalError, one_sentence
from hht_archival.progress import announce, human_size


class SponsorsFailed(ArchivalError):
    """Some sponsors failed; the message names each with its one-sentence reason."""

    def __init__(self, message: str, summary: list[dict[str, Any]]):
        super().__init__(message)
        self.summary = summary

    def __reduce__(self):
        return (SponsorsFailed, (str(self), self.summary))


@task(name="archive-sponsor-run", cache_policy=NO_CACHE, persist_result=False, retries=0)
def archive_one(
    run: SponsorRun, deployment: ApplicationDeployment | None, log_dir: str | None
) -> dict[str, Any]:
    """Run the one-sponsor flow as a child run; its own tasks carry the retries."""
    return archive_sponsor(**run.flow_parameters(), deployment=deployment, log_dir=log_dir)


def _summary_row(run: SponsorRun, outcome: Any) -> dict[str, Any]:
    record = outcome if isinstance(outcome, dict) else getattr(outcome, "record", None) or {}
    seconds = sum(step.get("seconds", 0) for step in record.get("steps", []))
    return {
        "sponsor": run.sponsor,
        "environment": run.environment,
        "status": record.get("status", "failed") if isinstance(outcome, dict) else "failed",
        "flag_source": record.get("flag_source"),
        "size": record.get("backup_size", 0),
        "sha256": record.get("backup_sha256"),
        "location": record.get("backup_location", "not-configured"),
        "seconds": round(seconds, 2),
        "reason": None if isinstance(outcome, dict) else one_sentence(outcome),
        "local_log": record.get("local_log") or getattr(outcome, "log_path", None) and str(outcome.log_path),
    }


def _run_name() -> str:
    return f"all-sponsors-{datetime.now(UTC):%Y%m%d-%H%M%S}"


@flow(name="archive-all-sponsors", flow_run_name=_run_name, log_prints=False, persist_result=False)
def archive_all_sponsors(
    manifest: str | None = None,
    sponsors: list[str] | None = None,
    environments: list[str] | None = None,
    max_parallel: int | None = None,
    deployment: ApplicationDeployment | None = None,
    log_dir: str | None = None,
) -> list[dict[str, Any]]:
    """Archive every sponsor of the manifest (or the chosen ones); fail if any sponsor failed.

    Args:
        manifest: Path of the sponsor manifest. Default ARCHIVAL_MANIFEST, else sponsors.yaml.
        sponsors: Only these sponsors. Empty: every sponsor in the manifest.
        environments: Only these environments. Empty: each sponsor's own list.
        max_parallel: Sponsors archived at once. Default ARCHIVAL_MAX_PARALLEL, else 4.
        deployment: The application deployment, recorded in every sponsor's log.
        log_dir: Local log directory; each sponsor's logs go to a subdirectory named after it (as always).
    """
    settings = load_settings()
    path = manifest or str(settings.archival_manifest)
    runs = expand(load_manifest(path), sponsors, environments, path=path)
    limit = max_parallel or settings.archival_max_parallel
    announce("Archiving %d sponsor run(s), at most %d at a time.", len(runs), limit)

    waiting, running, finished = deque(runs), {}, []
    while waiting or running:
        while waiting and len(running) < limit:
            run = waiting.popleft()
            future = archive_one.with_options(
                task_run_name=f"archive-{run.sponsor}-{run.environment}"
            ).submit(run, deployment, log_dir)
            running[future] = run
        done = next(as_completed(list(running)))
        run = running.pop(done)
        outcome = done.result(raise_on_failure=False)
        finished.append(_summary_row(run, outcome))
        row = finished[-1]
        announce(
            "%s (%s): %s%s",
            run.sponsor,
            run.environment,
            row["status"],
            f" - {row['reason']}" if row["reason"] else "",
        )

    order = {(r.sponsor, r.environment): i for i, r in enumerate(runs)}
    finished.sort(key=lambda row: order[(row["sponsor"], row["environment"])])
    create_table_artifact(
        key="archive-summary",
        table=[{**row, "size": human_size(row["size"]) if row["size"] else "0"} for row in finished],
        description="Each sponsor's archival: status, size, SHA-256, location, duration and reason.",
    )
    failed = [row for row in finished if row["status"] == "failed"]
    if failed:
        reasons = "; ".join(f"{row['sponsor']} ({row['environment']}): {row['reason']}" for row in failed)
        raise SponsorsFailed(f"{len(failed)} of {len(finished)} sponsor runs failed: {reasons}", finished)
    return finished
