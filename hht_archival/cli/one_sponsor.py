"""run for one sponsor: decided and logged without an engine when it can be, else the archive-sponsor flow.

Why ``run`` resolves the sponsor's configuration before the flow resolves it
again: the flow has to resolve on its own (a run from a deployment has no
command line before it), and a resolved configuration cannot be handed to it,
because Prefect stores a flow's parameters and this one holds the database URL
and keys. Resolving first lets a disabled run without a Prefect server finish
without starting an engine, says a bad input in one sentence before the
engine's start, lets an enabled run find a database that does not answer or a
missing bucket in seconds rather than after the engine's start and its tasks'
retries (hht_archival/preflight.py), and tells where the local log goes when
the engine cannot start. Both resolve from the same arguments with the same function
(``resolve_named`` in flows/parameters.py), so they cannot disagree.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field

import click

from hht_archival.cli import EXIT_BAD_INPUT, EXIT_FAILED, fail
from hht_archival.cli.outputs import emit_outputs, leave_if_prefect_api_lost, print_log, print_run_end
from hht_archival.console import attach_console


def run_one(sponsor, environment, enabled, sponsor_block, log_dir, debug) -> None:
    """Archive one sponsor, or show why archival is off; exits with the one sentence on failure.

    A SIGINT or SIGTERM at any point ends it within seconds with 130 or 143 and a failed local
    log (hht_archival/stopping.py); inside the flow the flow says so, before and around it, here.
    """
    from hht_archival.record import utc_now_iso
    from hht_archival.stopping import requested

    started = _Started(
        utc_now_iso(),
        dict(
            sponsor=sponsor,
            environment=environment,
            enabled=enabled,
            sponsor_block=sponsor_block,
            log_dir=log_dir,
        ),
    )
    try:
        _run_one(started, debug)
    except SystemExit:
        raise
    except BaseException:
        stop = requested()  # a library may have wrapped the RunStopped it was interrupted by
        if stop is None:
            raise
        _stopped_outside_the_flow(stop, started)


@dataclass
class _Started:
    """What is known of the run so far, for whoever must write its log if it is stopped."""

    at: str
    parameters: dict
    clock: float = field(default_factory=time.time)  # a log from a run that ended this second is not ours
    config: object = None
    decision: object = None


def _run_one(started: _Started, debug: bool) -> None:
    if started.parameters["sponsor_block"] is None:  # else the flow resolves the block: no checks here
        _prepare_the_api_if_asked_to_archive(started.parameters["enabled"], debug)  # before the imports below
    from blocks.defaults import sponsor_or_home
    from flows.parameters import resolve_named
    from hht_archival.doctor_targets import refuse_a_likely_typo
    from hht_archival.engine import abandon_prepared_api
    from hht_archival.errors import ArchivalError
    from hht_archival.flag_here import decide_without_a_server
    from hht_archival.unorchestrated import record_config_failure

    parameters, started_at = started.parameters, started.at
    sponsor, environment = parameters["sponsor"], parameters["environment"]
    sponsor_block, log_dir = parameters["sponsor_block"], parameters["log_dir"]
    config = decision = None
    if sponsor_block is None:  # a block lives on a Prefect server: only the flow can read it
        try:
            refuse_a_likely_typo(sponsor, _this_command_for("{sponsor}", sponsor))
            config = resolve_named(**parameters)
        except ArchivalError as exc:
            failure = record_config_failure(exc, sponsor, environment, log_dir, started_at)
            fail(str(failure), failure.log_path, EXIT_BAD_INPUT)
        decision = decide_without_a_server(config)
        started.config, started.decision = config, decision
        if decision is not None and not decision.enabled:
            abandon_prepared_api()
            _skip_without_engine(config, decision, started_at)
            return
        if decision is not None and config.refusals:  # enabled, but not everything is bound to the sponsor
            _refuse_without_engine(config, decision, started_at)
        if decision is not None and decision.enabled:  # what would stop the run, found before any engine
            _check_without_engine(config, decision, started_at)
    whose = f"sponsor {config.sponsor if config else sponsor_or_home(sponsor)}"
    print_run_end(_archive_with_engine(whose, config, decision, started_at, debug, parameters))


def _prepare_the_api_if_asked_to_archive(enabled: bool | None, debug: bool) -> None:
    """Start the embedded API's import while the run's inputs are checked, where the run is asked to archive.

    Asked on the command line (--enable) or by the seed's ENABLE_S3_BACKUP_ARCHIVAL;
    a sponsor's own variable or a server's decides later, and its run starts
    the API after the checks, as before. Only a guess: a run that turns out
    not to archive stops the prepared server (engine.abandon_prepared_api).
    Called before this module's other imports (boto3, psycopg, the flows'
    settings: 0.3-0.5 s), which then overlap the server's import too.
    """
    import os

    from blocks.flag import TRUE_WORDS
    from hht_archival.engine import prepare_prefect_api

    asked = os.environ.get("ENABLE_S3_BACKUP_ARCHIVAL", "").strip().lower() in TRUE_WORDS
    if enabled is True or (enabled is None and asked):
        prepare_prefect_api(debug)


def _this_command_for(placeholder: str, sponsor: str) -> str:
    """The command the user typed, with the sponsor's name replaced: what to type after a typo.

    Only the sponsor changes, so ``--enable`` and the environment are kept; argv holds no secret
    (a URL with a password there is refused before this).
    """
    import shlex
    import sys

    def as_typed(word: str) -> str:
        if word == sponsor:
            return placeholder
        if word == f"--sponsor={sponsor}":
            return f"--sponsor={placeholder}"
        return shlex.quote(word).replace("{", "{{").replace("}", "}}")  # the result is a format template

    return "hht-archival " + " ".join(map(as_typed, sys.argv[1:]))


def _skip_without_engine(config, decision, started_at) -> None:
    """The disabled run with no Prefect server: the seed's banner, the local log and outputs, no engine."""
    from blocks.flag import describe_decision
    from hht_archival.banner import banner_for
    from hht_archival.unorchestrated import write_log_without_engine

    click.echo(describe_decision(decision, config.sponsor, config.environment))
    click.echo(banner_for(config, decision.source))
    try:
        record, path = write_log_without_engine(config, decision, started_at)
    except OSError as exc:
        fail(
            f"The local deployment log could not be written to {config.log_dir} for sponsor {config.sponsor} "
            f"({exc.strerror or exc}); free space there or set ARCHIVAL_LOG_DIR to a writable directory.",
            None,
            EXIT_FAILED,
        )
    click.echo(f"write_log: {path} (S3: {record.log_location})")
    print_run_end({**record.model_dump(mode="json"), "local_log": str(path)})


def _refuse_without_engine(config, decision, started_at) -> None:
    """An enabled run whose database or identity is not the sponsor's own: one sentence, no work."""
    from hht_archival.unorchestrated import write_log_without_engine

    sentence = next(iter(config.refusals.values()))
    record, path = write_log_without_engine(config, decision, started_at, sentence)
    emit_outputs(record.model_dump(mode="json"))
    fail(sentence, path, EXIT_BAD_INPUT)


def _check_without_engine(config, decision, started_at) -> None:
    """The database and both buckets answer (hht_archival/preflight.py), or one sentence and the failed log.

    Exit 2 for bad input (a malformed URL, a missing bucket, no cloud identity),
    1 for work that could not be done (a database that did not answer).
    """
    from hht_archival.errors import ArchivalError, ConfigError
    from hht_archival.preflight import check_before_work, hand_over
    from hht_archival.unorchestrated import write_log_without_engine

    try:
        check_before_work(config, _say)
        hand_over(config)
    except ArchivalError as exc:
        record, path = write_log_without_engine(config, decision, started_at, str(exc))
        print_log(record.model_dump(mode="json"))
        emit_outputs(record.model_dump(mode="json"))
        fail(str(exc), path, EXIT_BAD_INPUT if isinstance(exc, ConfigError) else EXIT_FAILED)


def _say(message: str, *args: object) -> None:
    """Progress before the engine starts, printed as the flow's announcements are."""
    click.echo(message % args if args else message)


def _archive_with_engine(whose, config, decision, started_at, debug, parameters) -> dict:
    """Run the archive-sponsor flow on the configured Prefect API, or on one started for this run."""
    from hht_archival.engine import EngineUnavailable, start_prefect_api
    from hht_archival.errors import one_sentence
    from hht_archival.stopping import requested

    api_ready = start_prefect_api(whose, debug)  # the imports below overlap its start
    from flows.archive_sponsor import ArchivalFailed, archive_sponsor
    from hht_archival.unorchestrated import record_config_failure, write_log_without_engine

    if not debug:
        attach_console()
    try:
        api_ready()
    except EngineUnavailable as exc:
        if config is not None:
            record, path = write_log_without_engine(config, decision, started_at, str(exc))
            record = record.model_dump(mode="json")
        else:
            failure = record_config_failure(
                exc, parameters["sponsor"], parameters["environment"], parameters["log_dir"], started_at
            )
            record, path = failure.record, failure.log_path
        print_log(record)
        emit_outputs(record)
        fail(str(exc), path, EXIT_FAILED)
    try:
        return archive_sponsor(**parameters)
    except ArchivalFailed as exc:
        if debug:  # the run ended Failed with its sentence (flows/endings.py); the chain is here
            traceback.print_exception(exc)
        if exc.record:
            print_log(exc.record)
            emit_outputs(exc.record)
        fail(str(exc), exc.log_path, getattr(exc, "exit_code", EXIT_FAILED))
    except Exception as exc:
        if debug:
            traceback.print_exc()
        if requested() is not None:  # the stop, as whatever it interrupted worded it
            raise requested() from exc
        leave_if_prefect_api_lost(exc, whose, parameters["log_dir"])
        fail(one_sentence(exc), None, EXIT_FAILED)


def _stopped_outside_the_flow(stop, started: _Started) -> None:
    """Stopped before the flow began (resolving, starting the engine) or in Prefect's bookkeeping around it.

    The flow's body writes the log of a run stopped inside it; here the run
    has no log yet, unless the flow wrote one just before the signal came.
    """
    from blocks.defaults import environment_or_default, sponsor_or_home
    from hht_archival.errors import ArchivalError
    from hht_archival.unorchestrated import record_config_failure, stopped_sentence, write_log_without_engine

    parameters, config = started.parameters, started.config
    sponsor = config.sponsor if config else sponsor_or_home(parameters["sponsor"])
    environment = config.environment if config else environment_or_default(parameters["environment"])
    sentence = stopped_sentence(stop, sponsor, environment)
    if config is not None and _log_written_since(config.log_dir, started.clock):
        fail(sentence, None, stop.exit_code)
    if config is not None and started.decision is not None:
        record, path = write_log_without_engine(config, started.decision, started.at, sentence)
        record = record.model_dump(mode="json")
    else:
        failure = record_config_failure(
            ArchivalError(sentence),
            parameters["sponsor"],
            parameters["environment"],
            parameters["log_dir"],
            started.at,
        )
        record, path = failure.record, failure.log_path
    emit_outputs(record)
    fail(sentence, path, stop.exit_code)


def _log_written_since(log_dir, since: float) -> bool:
    """Whether a deployment log landed in ``log_dir`` since this run started (the flow's, stopped late)."""
    from pathlib import Path

    return any(path.stat().st_mtime >= since for path in Path(log_dir).glob("deployment-*.json"))
