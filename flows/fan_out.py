"""The nightly's sponsors as runs of a deployment, so every worker of the pool shares the night's work.

Why not child flows in the nightly's own process: they all ran inside the one
worker that picked the nightly up, behind its threads, while other workers
(and machines added later) stood idle. Each (sponsor, environment) becomes a
run of ``archive-sponsor/sponsor-run``; that deployment's concurrency limit
caps how many run at once across all workers (prefect.yaml).

Nothing is skipped silently: a run that crashed (its process died) is started
again once (a cancelled one is not: a person chose that); one with no outcome
when the night's limit is reached (its worker gone with it) is reported lost.
A nightly that is stopped (cancelled from the UI) cancels the runs still going.
Each run's record is read back from its table artifact, because its local log
is on the worker that ran it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.deployments import run_deployment
from prefect.states import Cancelling

from blocks.manifest import SponsorRun
from flows.parameters import sponsor_run_parameters
from flows.run_artifacts import read_record
from hht_archival import stopping
from hht_archival.errors import ArchivalError
from hht_archival.progress import announce
from hht_archival.stopping import requested
from hht_archival.unorchestrated import ArchivalFailed, ArchivalStopped, stopped_sentence

SPONSOR_RUN_DEPLOYMENT = "archive-sponsor/sponsor-run"
POLL_SECONDS = 5.0
_FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@dataclass(frozen=True)
class Fleet:
    """What a fan-out starts per sponsor: a deployment, the run's parameters, how its record is read back.

    The nightly's is NIGHTLY; the weekly drill's is flows/drill_all_sponsors.py's.
    """

    deployment: str
    parameters: Callable[[SponsorRun], dict[str, Any]]
    read_record: Callable[[Any, str, str], dict | None]


NIGHTLY = Fleet(SPONSOR_RUN_DEPLOYMENT, sponsor_run_parameters, read_record)


@dataclass
class _Submitted:
    run: SponsorRun
    flow_run_id: Any
    fleet: Fleet = NIGHTLY
    attempt: int = 1


def archive_on_workers(
    runs: list[SponsorRun], parameters: dict[str, Any], timeout_seconds: float, fleet: Fleet = NIGHTLY
) -> list[tuple[SponsorRun, dict | Exception]]:
    """Start a deployment run per sponsor, wait for all, return each one's record or its failure."""
    pending = {s.flow_run_id: s for s in (_submit(run, parameters, fleet) for run in runs)}
    outcomes: dict[tuple[str, str], dict | Exception] = {}
    try:
        _wait_for(pending, outcomes, parameters, timeout_seconds)
    except BaseException:
        stop = requested()
        if stop is None:
            raise
        _cancel(pending, stop, outcomes)
    return [(run, outcomes[(run.sponsor, run.environment)]) for run in runs]


def _wait_for(pending: dict, outcomes: dict, parameters: dict[str, Any], timeout_seconds: float) -> None:
    """Poll the runs until each has an outcome (a crashed one started again once) or time is up."""
    deadline = time.monotonic() + timeout_seconds
    while pending and time.monotonic() < deadline:
        for flow_run in _read(list(pending)):
            state = flow_run.state.type.value if flow_run.state else "PENDING"
            if state not in _FINAL:
                continue
            submitted = pending.pop(flow_run.id)
            if state == "CRASHED" and submitted.attempt == 1:  # its process died; a cancel is a person's
                announce(
                    "%s (%s): its run %s ended %s; starting it again.",
                    submitted.run.sponsor,
                    submitted.run.environment,
                    flow_run.name,
                    state,
                )
                again = _submit(submitted.run, parameters, submitted.fleet, attempt=2)
                pending[again.flow_run_id] = again
                continue
            outcomes[(submitted.run.sponsor, submitted.run.environment)] = _outcome(
                submitted, flow_run, state
            )
        if pending:
            stopping.sleep(POLL_SECONDS)
    for submitted in pending.values():  # no outcome in time: its worker is likely gone
        outcomes[(submitted.run.sponsor, submitted.run.environment)] = ArchivalError(
            f"The run of sponsor {submitted.run.sponsor} ({submitted.run.environment}) gave no outcome "
            f"within {timeout_seconds / 3600:g} h (flow run {submitted.flow_run_id}: its worker may be "
            "gone); check the pool's workers and run it again."
        )
    pending.clear()


def _cancel(pending: dict, stop, outcomes: dict) -> None:
    """The nightly was stopped (a cancel from the UI, SIGTERM): cancel the sponsors' runs still going.

    Each is asked to cancel as the UI's button does; its worker then stops it
    (SIGTERM: pg_dump ended, the upload aborted, its log written) and it ends
    Cancelled on its own. They are not waited for: a stop must be quick.
    """
    with get_client(sync_client=True) as client:
        for submitted in pending.values():
            try:
                client.set_flow_run_state(submitted.flow_run_id, Cancelling(message=str(stop)), force=True)
            except Exception as exc:  # the run itself may have ended meanwhile; say so and go on
                announce("The run %s could not be cancelled (%s).", submitted.flow_run_id, exc)
            sentence = stopped_sentence(stop, submitted.run.sponsor, submitted.run.environment)
            outcomes[(submitted.run.sponsor, submitted.run.environment)] = ArchivalStopped(
                f"{sentence} (flow run {submitted.flow_run_id} asked to cancel)", None, None, stop.signum
            )


def _submit(run: SponsorRun, parameters: dict[str, Any], fleet: Fleet, attempt: int = 1) -> _Submitted:
    flow_run = run_deployment(
        fleet.deployment,
        parameters={**fleet.parameters(run), **parameters},
        timeout=0,  # return once created: the pool's workers run it
        as_subflow=True,
    )
    return _Submitted(run, flow_run.id, fleet, attempt)


def _read(flow_run_ids: list) -> list:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=flow_run_ids)))


def _outcome(submitted: _Submitted, flow_run, state: str) -> dict | Exception:
    """The run's record when it completed; else its one sentence, with the record when it left one."""
    record = submitted.fleet.read_record(flow_run.id, submitted.run.sponsor, submitted.run.environment)
    if state == "COMPLETED" and record is not None:
        return record
    message = (flow_run.state.message if flow_run.state else None) or f"the run ended {state}"
    reason = (record or {}).get("error") or message
    retried = " (after starting it again)" if submitted.attempt > 1 else ""
    return ArchivalFailed(f"{reason}{retried}", None, record)
