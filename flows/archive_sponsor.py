"""archive-sponsor: the seed's deployment step as a Prefect flow, for one sponsor and environment.

The signature is what the UI's form shows (its titles and descriptions are
in flows/parameters.py); the work itself is in flows/pipeline.py. Whatever happens, a local JSON log is
written before the flow ends; a failed run ends the flow run Failed, a stopped one (SIGINT, SIGTERM,
a cancel from the UI) Cancelled. A failure we can name (a refusal, an unreachable database) ends the
run with its one sentence as a returned state (flows/endings.py), not a traceback.
"""

import logging
from pathlib import Path
from typing import Any, get_args

from prefect import flow
from prefect.runtime import flow_run
from prefect.states import Cancelled

from blocks.defaults import local_log_dir, sponsor_or_home
from flows.endings import failed
from flows.form import (
    ArchivalChoice,
    Environment,
    EnvironmentChoice,
    SponsorChoice,
    Text,
    environment_or_default,
)
from flows.parameters import ApplicationDeployment, Deployment, SponsorParameters, form, resolve_named
from flows.pipeline import run_pipeline
from flows.run_artifacts import publish_record
from flows.sponsor_choice import NO_SPONSOR, NoSponsorChosen, in_deployment_run, run_label
from hht_archival.errors import ArchivalError
from hht_archival.outcomes import report_failed_run, report_finished_run
from hht_archival.record import utc_now_iso
from hht_archival.stopping import RunStopped, requested, signals_stop_runs
from hht_archival.unorchestrated import (
    ArchivalFailed,
    ArchivalStopped,
    record_config_failure,
    stopped_sentence,
)

__all__ = ["ApplicationDeployment", "ArchivalFailed", "archive_sponsor", "record_config_failure"]


def _run_name() -> str:
    params = flow_run.parameters or {}
    sponsor = run_label(params.get("sponsor"))
    environment = environment_or_default(params.get("environment"))
    if environment not in get_args(Environment):
        environment = "invalid"
    return f"archive-{sponsor}-{environment}"


@flow(name="archive-sponsor", flow_run_name=_run_name, log_prints=False, persist_result=False)
def archive_sponsor(
    sponsor: SponsorChoice = form("sponsor"),
    environment: EnvironmentChoice = form("environment"),
    enabled: ArchivalChoice = form("enabled"),
    sponsor_block: Text = form("sponsor_block"),
    deployment: Deployment = form("deployment"),
    env_prefix: Text = form("env_prefix"),
    manifest: Text = form("manifest"),
    log_dir: Text = form("log_dir"),
) -> dict[str, Any]:
    """Archive one sponsor's database and deployment log to S3, or record why not.

    Returns the JSON log as a dict plus ``local_log``, the path of its local copy.
    Raises ArchivalFailed (after writing the local log) when anything failed; a run
    stopped by SIGINT or SIGTERM (a cancel from the UI is one) ends Cancelled, its
    ArchivalStopped as the state's data, which is what a caller in this process gets raised.
    Every setting comes from a source bound to the sponsor (blocks/config.py):
    no parameter can point one sponsor at another sponsor's database or buckets.

    The parameters, their titles and descriptions are SponsorParameters's
    (flows/parameters.py); they are named here too because Prefect draws the
    UI form from this signature.
    """
    chosen = SponsorParameters(**locals()).chosen()  # first: locals() is exactly the parameters here
    started_at = utc_now_iso()
    chosen["log_dir"] = _log_base(chosen["log_dir"])
    with signals_stop_runs():  # SIGINT/SIGTERM end the run Cancelled, its log written (stopping.py)
        try:
            config = resolve_named(**chosen)
        except (Exception, RunStopped) as exc:
            failure = _refused(exc, chosen, environment, started_at)
            _publish(failure.record)
            report_failed_run(None, failure)
            if isinstance(failure, ArchivalStopped):
                return Cancelled(message=str(failure), data=failure)
            return failed(failure)
        # What the watchers learn (hht_archival/outcomes.py): an event, incidents, and anomalies,
        # which end an archived run Completed but named Anomalous.
        try:
            record = run_pipeline(config, started_at)
        except ArchivalFailed as failure:
            _publish(failure.record)
            report_failed_run(config, failure)
            if isinstance(failure, ArchivalStopped):  # a person or the system chose it: not a crash
                return Cancelled(message=str(failure), data=failure)
            return failed(failure)
        _publish(record)
        return report_finished_run(config, record)


def _refused(exc: BaseException, chosen: dict, environment, started_at: str) -> ArchivalFailed:
    """The local log of a run that ended before it had a configuration: refused, or stopped meanwhile."""
    stop = requested()  # after a stop, whatever failed is its echo
    if stop is None:
        whose = NO_SPONSOR if isinstance(exc, NoSponsorChosen) else chosen["sponsor"]  # not the worker's
        return record_config_failure(exc, whose, environment, chosen["log_dir"], started_at)
    sentence = stopped_sentence(stop, sponsor_or_home(chosen["sponsor"]), environment_or_default(environment))
    failure = record_config_failure(
        ArchivalError(sentence), chosen["sponsor"], environment, chosen["log_dir"], started_at
    )
    return ArchivalStopped(sentence, failure.log_path, failure.record, stop.signum)


def _log_base(log_dir: str | None) -> str | None:
    """The log directory; in a worker's run a relative one is kept under the home directory.

    A process worker starts each run in a temporary directory that is removed
    afterwards: a relative directory there would take the local logs with it.
    """
    chosen = local_log_dir(log_dir)
    if in_deployment_run() and not chosen.is_absolute():
        return str(Path.home() / "hht-archival" / chosen)
    return log_dir


def _publish(record: dict | None) -> None:
    """The run's record for the UI and for readers of the API (the nightly, pre-deploy); never fatal."""
    if not record:
        return
    try:
        publish_record(record)
    except Exception as exc:  # the log is written and safe; the artifact is a convenience
        logging.getLogger(__name__).warning("The run's record artifact could not be created (%s).", exc)
