"""run and demo: the commands that archive (pre-deploy and worker are in server.py)."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import click

from hht_archival.cli import EXIT_BAD_INPUT, EXIT_FAILED, fail, main, refuse_password_in_argv
from hht_archival.cli.outputs import emit_outputs, print_log, print_run_end, print_sponsor_runs
from hht_archival.console import attach_console, prepare_environment


@main.command()
@click.option("--sponsor", help="Sponsor (tenant) name. Default: $SPONSOR, else callisto.")
@click.option(
    "--environment", help="production, staging or dev. Default: $DEPLOYMENT_ENVIRONMENT, else production."
)
@click.option(
    "--enable/--disable", "enabled", default=None, help="Override ENABLE_S3_BACKUP_ARCHIVAL for this run."
)
@click.option("--sponsor-block", help="Name of an hht-sponsor-archival Prefect block to read settings from.")
@click.option(
    "--log-dir",
    type=click.Path(file_okay=False),
    help="Local log directory. Default: $ARCHIVAL_LOG_DIR, else ./deployment-logs.",
)
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False),
    help="Archive every sponsor of this manifest (sponsors.yaml).",
)
@click.option("--sponsors", "only", help="With --manifest: only these sponsors, comma-separated.")
@click.option(
    "--max-parallel", type=click.IntRange(1, 64), help="With --manifest: sponsors at once (default 4)."
)
@click.option("--debug", is_flag=True, help="Show Prefect's logs and full tracebacks.")
def run(sponsor, environment, enabled, sponsor_block, log_dir, manifest, only, max_parallel, debug) -> None:
    """Archive one sponsor (or every sponsor of a manifest), or show why archival is off.

    When the flag is off (the default) it prints the setup banner and saves the
    log locally only; when on, it dumps, compresses, uploads, tags and logs.
    With --manifest each sponsor decides its own flag, a few run at once, and
    one sponsor's failure never stops another's.

    Example: doppler run -- hht-archival run --sponsor callisto
    """
    prepare_environment(debug)
    if manifest is not None:
        if sponsor or sponsor_block or enabled is not None:
            raise click.UsageError(
                "--manifest runs every sponsor with its own flag; drop --sponsor, "
                "--sponsor-block and --enable/--disable, or drop --manifest."
            )
        _run_manifest(manifest, only, environment, max_parallel, log_dir, debug)
        return
    from blocks.binding import home_sponsor
    from blocks.config import resolve_config
    from hht_archival.errors import ArchivalError
    from hht_archival.record import utc_now_iso
    from hht_archival.unorchestrated import record_config_failure

    started_at = utc_now_iso()
    config = decision = None
    if sponsor_block is None:  # a block lives on a Prefect server: only the flow can read it
        try:
            config = resolve_config(
                sponsor=sponsor, environment=environment, enabled=enabled, log_dir=log_dir
            )
        except ArchivalError as exc:
            failure = record_config_failure(exc, sponsor, environment, log_dir, started_at)
            fail(str(failure), failure.log_path, EXIT_BAD_INPUT)
        decision = _decided_without_a_server(config)
        if decision is not None and not decision.enabled:
            _skip_without_engine(config, decision, started_at)
            return
        if decision is not None and config.refusals:  # enabled, but not everything is bound to the sponsor
            _refuse_without_engine(config, decision, started_at)
    whose = f"sponsor {config.sponsor if config else sponsor or home_sponsor()}"
    result = _archive_with_engine(
        whose,
        config,
        decision,
        started_at,
        debug,
        log_dir,
        dict(sponsor=sponsor, environment=environment, enabled=enabled, sponsor_block=sponsor_block),
    )
    print_run_end(result)


def _decided_without_a_server(config):
    """The flag decided before any engine starts, when no Prefect server is configured; else None.

    Without a server there is no operator's Prefect variable to read, so the
    parameter, the environment and the default decide, as ``doctor`` says.
    """
    from blocks.flag import decide_flag
    from hht_archival.engine import configured_api_url

    if configured_api_url() is not None:
        return None
    return decide_flag(config.flag, config.sponsor, config.environment)


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


def _archive_with_engine(whose, config, decision, started_at, debug, log_dir, parameters) -> dict:
    """Run the archive-sponsor flow on the configured Prefect API, or on one started for this run."""
    from hht_archival.engine import EngineUnavailable, start_prefect_api
    from hht_archival.errors import one_sentence

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
                exc, parameters["sponsor"], parameters["environment"], log_dir, started_at
            )
            record, path = failure.record, failure.log_path
        print_log(record)
        emit_outputs(record)
        fail(str(exc), path, EXIT_FAILED)
    try:
        return archive_sponsor(**parameters, log_dir=log_dir)
    except ArchivalFailed as exc:
        if exc.record:
            print_log(exc.record)
            emit_outputs(exc.record)
        fail(str(exc), exc.log_path, EXIT_FAILED)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        _leave_if_prefect_api_lost(exc, whose, log_dir)
        fail(one_sentence(exc), None, EXIT_FAILED)


@main.command()
@click.option(
    "--database-url",
    envvar="DATABASE_URL",
    help="Database to archive. Default: $DATABASE_URL, else the local PostgreSQL.",
)
@click.option("--sponsor", default="demo", show_default=True, help="Sponsor name for the demo.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="demo-output",
    show_default=True,
    help="Where the demo's logs and downloaded copies go.",
)
@click.option("--debug", is_flag=True, help="Show Prefect's logs and full tracebacks.")
def demo(database_url, sponsor, out_dir, debug) -> None:
    """Show the enabled path on this machine, with no cloud: an S3 server on loopback, a full archive.

    Example: hht-archival demo
    """
    prepare_environment(debug)
    if database_url:
        refuse_password_in_argv("--database-url", database_url, "DATABASE_URL")
    from hht_archival.engine import start_prefect_api
    from hht_archival.errors import ArchivalError

    api_ready = start_prefect_api(f"sponsor {sponsor}", debug)  # the imports below overlap its start
    from hht_archival.demo import run_demo

    if not debug:
        attach_console()
    try:
        api_ready()
        code = run_demo(database_url=database_url, sponsor=sponsor, out_dir=Path(out_dir))
    except ArchivalError as exc:
        fail(str(exc), getattr(exc, "log_path", None), EXIT_FAILED)
    sys.exit(code)


def _run_manifest(manifest, only, environment, max_parallel, log_dir, debug) -> None:
    from blocks.manifest import expand, load_manifest
    from hht_archival.engine import EngineUnavailable, start_prefect_api
    from hht_archival.errors import ArchivalError, one_sentence
    from hht_archival.record import utc_now_iso

    started_at = utc_now_iso()
    sponsors = [name.strip() for name in only.split(",") if name.strip()] if only else None
    environments = [environment] if environment else None
    try:
        runs = expand(load_manifest(manifest), sponsors, environments, path=manifest)
    except ArchivalError as exc:
        fail(str(exc), None, EXIT_BAD_INPUT)
    if not runs:
        fail(
            f"No sponsor in {manifest} matches the filters; check --sponsors and --environment.",
            None,
            EXIT_BAD_INPUT,
        )
    whose = "sponsors " + ", ".join(sorted({run.sponsor for run in runs}))
    api_ready = start_prefect_api(whose, debug)  # the imports below overlap its start
    from flows.archive_all_sponsors import SponsorsFailed, archive_all_sponsors
    from hht_archival.unorchestrated import record_config_failure

    if not debug:
        attach_console(prefix_runs=True)
    try:
        api_ready()
    except EngineUnavailable as exc:
        for run in runs:  # every sponsor's run still leaves its log, in its own directory
            record_config_failure(exc, run.sponsor, run.environment, log_dir, started_at)
        fail(str(exc), None, EXIT_FAILED)
    try:
        summary = archive_all_sponsors(
            manifest=manifest,
            sponsors=sponsors,
            environments=environments,
            max_parallel=max_parallel,
            log_dir=log_dir,
        )
    except SponsorsFailed as exc:
        print_sponsor_runs(exc.summary)
        fail(str(exc), None, EXIT_FAILED)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        _leave_if_prefect_api_lost(exc, whose, log_dir)
        fail(one_sentence(exc), None, EXIT_FAILED)
    print_sponsor_runs(summary)


def _leave_if_prefect_api_lost(exc: BaseException, whose: str, log_dir) -> None:
    """If ``exc`` is the Prefect API gone, print the one sentence and exit 1 at once.

    Each run's outcome is in its local log by then; Prefect's own exit would
    retry sending every pending event and log line to the dead API for minutes.
    """
    from blocks.config import local_log_dir
    from hht_archival.errors import prefect_api_lost

    sentence = prefect_api_lost(exc, whose, local_log_dir(log_dir))
    if sentence:
        click.echo(f"\n❌ {sentence}", err=True)  # after whatever Prefect printed unterminated
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_FAILED)
