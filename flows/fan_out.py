"""The nightly's sponsors as runs of a deployment, so every worker of the pool shares the night's work.

Why not child flows in the nightly's own process: they all ran inside the one
worker that picked the nightly up, behind its threads, while other workers
(and machines added later) stood idle. Each (sponsor, environment) becomes a
run of ``archive-sponsor/sponsor-run``; that deployment's concurrency limit
caps how many run at once across all workers (prefect.yaml).

Nothing is skipped silently: a run that crashed (its process died) is started
again once, on whichever worker is free, and the night's summary says so (a
cancelled one is not: a person chose that). A run whose machine was lost has
nothing left to end it, so Prefect would show it Running for ever: a running
flow sends a ``prefect.flow-run.heartbeat`` event every
PREFECT_FLOWS_HEARTBEAT_FREQUENCY (180 s by default), and one that has sent
none for ARCHIVAL_LOST_AFTER_SECONDS (default 600) is marked Crashed
(lost_runs.py), which pages once (alerts.py) and starts it again. One with no outcome when the
night's limit is reached is reported lost. The server may restart meanwhile:
a poll that cannot reach it is tried again at the next poll, for up to
SERVER_AWAY_SECONDS, before the night gives up on it.
A nightly that is stopped (cancelled from the UI) cancels the runs still going.
Each run's record is read back from its table artifact, because its local log
is on the worker that ran it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.deployments import run_deployment
from prefect.exceptions import PrefectHTTPStatusError
from prefect.states import Cancelling

from blocks.manifest import SponsorRun
from flows.lost_runs import LostRuns
from flows.parameters import sponsor_run_parameters
from flows.run_artifacts import read_record
from hht_archival import stopping
from hht_archival.errors import ArchivalError
from hht_archival.progress import announce
from hht_archival.record import utc_now_iso
from hht_archival.stopping import requested
from hht_archival.unorchestrated import (
    ArchivalFailed,
    ArchivalStopped,
    record_config_failure,
    stopped_sentence,
)

SPONSOR_RUN_DEPLOYMENT = "archive-sponsor/sponsor-run"
POLL_SECONDS = 1.0  # a slot freed waits at most this long for the next sponsor
SERVER_AWAY_SECONDS = 600.0  # a restart or upgrade of the Prefect server the night waits out
_FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
RESTARTED = "restarted"  # the key a record read back carries when its sponsor's first run crashed


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
    crashed: str | None = None  # what became of the first run, when this is the second


def archive_on_workers(
    runs: list[SponsorRun], parameters: dict[str, Any], timeout_seconds: float, fleet: Fleet = NIGHTLY
) -> list[tuple[SponsorRun, dict | Exception]]:
    """Start a deployment run per sponsor, wait for all, return each one's record or its failure.

    At most the deployment's concurrency limit are started at a time, the next
    as soon as one ends. Why not all at once, the limit queueing the rest: a
    run over the limit is put back for PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_
    SLOT_WAIT_SECONDS (30 s) each time it finds no slot, which cost a night of
    10 sponsors 68 s where their runs took 20 (benchmarks/orchestration_overhead.py).
    """
    waiting = deque(runs)
    limit = _concurrency_limit(fleet.deployment) or len(runs)
    pending: dict[Any, _Submitted] = {}
    outcomes: dict[tuple[str, str], dict | Exception] = {}
    try:
        _wait_for(waiting, limit, pending, outcomes, parameters, timeout_seconds, fleet)
    except BaseException:
        stop = requested()
        if stop is None:
            raise
        _cancel(pending, stop, outcomes)
        for run in waiting:
            outcomes[(run.sponsor, run.environment)] = never_started(run, stop, parameters.get("log_dir"))
    return [(run, outcomes[(run.sponsor, run.environment)]) for run in runs]


def never_started(run: SponsorRun, stop, log_dir) -> ArchivalStopped:
    """A sponsor whose run the stop came before: its own log says so, like every sponsor's."""
    sentence = stopped_sentence(stop, run.sponsor, run.environment, started=False)
    logged = record_config_failure(
        ArchivalError(sentence), run.sponsor, run.environment, log_dir, utc_now_iso()
    )
    return ArchivalStopped(sentence, logged.log_path, logged.record, stop.signum)


def _concurrency_limit(deployment: str) -> int | None:
    """The deployment's concurrency limit (prefect.yaml's ``concurrency_limit``), None when it has none."""
    with get_client(sync_client=True) as client:
        found = client.read_deployment_by_name(deployment)
    limit = found.global_concurrency_limit.limit if found.global_concurrency_limit else None
    return limit or None


def _wait_for(
    waiting: deque,
    limit: int,
    pending: dict,
    outcomes: dict,
    parameters: dict[str, Any],
    timeout_seconds: float,
    fleet: Fleet,
) -> None:
    """Start runs up to ``limit``, poll them until each has an outcome (a crashed one started again
    once), start the next as one ends, until all are done or time is up."""
    deadline = time.monotonic() + timeout_seconds
    reachable = time.monotonic()
    lost = LostRuns()
    while (waiting or pending) and time.monotonic() < deadline:
        while waiting and len(pending) < limit and requested() is None:
            submitted = _submit(waiting.popleft(), parameters, fleet)
            pending[submitted.flow_run_id] = submitted
        try:
            flow_runs = _read(list(pending))
            lost.mark(flow_runs)
            reachable = time.monotonic()
        except Exception as exc:
            if not _server_away(exc) or time.monotonic() - reachable > SERVER_AWAY_SECONDS:
                raise
            announce(
                "The Prefect server did not answer (%s); asking again in %g s.", _short(exc), POLL_SECONDS
            )
            flow_runs = []
        for flow_run in flow_runs:
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
                message = (flow_run.state.message if flow_run.state else None) or "its process ended"
                again = _submit(submitted.run, parameters, submitted.fleet, attempt=2)
                again.crashed = f"its first run {flow_run.name} crashed ({message}); started again"
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
    for run in waiting:  # never started: the night's hours went to the others
        outcomes[(run.sponsor, run.environment)] = ArchivalError(
            f"The run of sponsor {run.sponsor} ({run.environment}) was never started: the night's "
            f"{timeout_seconds / 3600:g} h went to the sponsors before it; raise the sponsor-run "
            "deployment's concurrency_limit, add workers or night_hours, and run it again."
        )
    pending.clear()
    waiting.clear()


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


def _server_away(exc: Exception) -> bool:
    """Not answering, or answering that it cannot now (5xx): a server restarting, not a bad request."""
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, PrefectHTTPStatusError) and exc.response.status_code >= 500


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _read(flow_run_ids: list) -> list:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=flow_run_ids)))


def _outcome(submitted: _Submitted, flow_run, state: str) -> dict | Exception:
    """The run's record when it completed; else its one sentence, with the record when it left one."""
    record = submitted.fleet.read_record(flow_run.id, submitted.run.sponsor, submitted.run.environment)
    if state == "COMPLETED" and record is not None:
        return {**record, RESTARTED: submitted.crashed} if submitted.crashed else record
    message = (flow_run.state.message if flow_run.state else None) or f"the run ended {state}"
    reason = (record or {}).get("error") or message
    retried = " (after starting it again)" if submitted.attempt > 1 else ""
    return ArchivalFailed(f"{reason}{retried}", None, record)
