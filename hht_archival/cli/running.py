"""run, demo and pre-deploy: the commands that archive."""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

import click

from hht_archival.cli import EXIT_BAD_INPUT, EXIT_FAILED, fail, main, refuse_password_in_argv
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
    from blocks.config import DEFAULT_SPONSOR, resolve_config
    from flows.archive_sponsor import ArchivalFailed, archive_sponsor, record_config_failure
    from hht_archival.errors import ArchivalError, one_sentence

    if sponsor_block is None:
        try:
            resolve_config(sponsor=sponsor, environment=environment, enabled=enabled, log_dir=log_dir)
        except ArchivalError as exc:
            failure = record_config_failure(exc, sponsor, environment, log_dir, None)
            fail(str(failure), failure.log_path, EXIT_BAD_INPUT)

    if not debug:
        attach_console()
    try:
        result = archive_sponsor(
            sponsor=sponsor,
            environment=environment,
            enabled=enabled,
            sponsor_block=sponsor_block,
            log_dir=log_dir,
        )
    except ArchivalFailed as exc:
        if exc.record:
            _print_log(exc.record)
            _emit_outputs(exc.record)
        fail(str(exc), exc.log_path, EXIT_FAILED)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        whose = f"sponsor {sponsor or os.environ.get('SPONSOR') or DEFAULT_SPONSOR}"
        _leave_if_prefect_api_lost(exc, whose, log_dir)
        fail(one_sentence(exc), None, EXIT_FAILED)

    _print_log(result)
    if not result["s3_archival_enabled"]:
        from hht_archival.banner import LOG_LOCAL_ONLY

        click.echo(LOG_LOCAL_ONLY)
    _emit_outputs(result)
    click.echo(f"Local log: {result['local_log']}")


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
    from hht_archival.demo import run_demo
    from hht_archival.errors import ArchivalError

    if not debug:
        attach_console()
    try:
        code = run_demo(database_url=database_url, sponsor=sponsor, out_dir=Path(out_dir))
    except ArchivalError as exc:
        fail(str(exc), getattr(exc, "log_path", None), EXIT_FAILED)
    sys.exit(code)


@main.command("pre-deploy")
@click.option("--sponsor", required=True, help="Sponsor to back up.")
@click.option("--environment", default="production", show_default=True, help="production, staging or dev.")
@click.option(
    "--version", "app_version", help="Application version being deployed (also read from DEPLOYMENT_VERSION)."
)
@click.option("--timeout", type=float, help="Give up waiting after this many seconds (the run goes on).")
def pre_deploy(sponsor, environment, app_version, timeout) -> None:
    """Back up a sponsor on the Prefect server before an application deploys, and wait for it.

    Runs the archive-sponsor/pre-deploy deployment with the CI's metadata
    (GITHUB_SHA, GITHUB_ACTOR, GITHUB_RUN_ID...) and exits non-zero unless it completed.

    Example: hht-archival pre-deploy --sponsor callisto --environment production
    """
    prepare_environment(debug=False)
    from deployments.trigger import trigger_pre_deploy
    from hht_archival.errors import ArchivalError

    try:
        run = trigger_pre_deploy(sponsor, environment, app_version, timeout)
    except ArchivalError as exc:
        fail(str(exc), None, EXIT_BAD_INPUT)
    ended = run.state.name if run.state else "unknown"
    click.echo(f"Flow run {run.name} ({run.id}): {ended}")
    if run.state is None or not run.state.is_completed():
        reason = (run.state.message if run.state else None) or "no message"
        fail(
            f"The pre-deploy backup of sponsor {sponsor} ({environment}) ended {ended} ({reason}); "
            f"see flow run {run.id} in the Prefect UI.",
            None,
            EXIT_FAILED,
        )


def _run_manifest(manifest, only, environment, max_parallel, log_dir, debug) -> None:
    from blocks.manifest import expand, load_manifest
    from flows.archive_all_sponsors import SponsorsFailed, archive_all_sponsors
    from hht_archival.errors import ArchivalError, one_sentence

    sponsors = [name.strip() for name in only.split(",") if name.strip()] if only else None
    environments = [environment] if environment else None
    try:
        runs = expand(load_manifest(manifest), sponsors, environments)
    except ArchivalError as exc:
        fail(str(exc), None, EXIT_BAD_INPUT)
    if not runs:
        fail(
            f"No sponsor in {manifest} matches the filters; check --sponsors and --environment.",
            None,
            EXIT_BAD_INPUT,
        )
    if not debug:
        attach_console(prefix_runs=True)
    try:
        summary = archive_all_sponsors(
            manifest=manifest,
            sponsors=sponsors,
            environments=environments,
            max_parallel=max_parallel,
            log_dir=log_dir,
        )
    except SponsorsFailed as exc:
        _print_summary(exc.summary)
        fail(str(exc), None, EXIT_FAILED)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        names = ", ".join(sorted({run.sponsor for run in runs}))
        _leave_if_prefect_api_lost(exc, f"sponsors {names}", log_dir)
        fail(one_sentence(exc), None, EXIT_FAILED)
    _print_summary(summary)


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


def _print_summary(rows: list[dict]) -> None:
    click.echo("\nSponsor runs:")
    for row in rows:
        where = row["reason"] or row["location"]
        click.echo(
            f"  {row['status']:9s} {row['sponsor']} ({row['environment']}): {where}"
            f"  [log: {row['local_log']}]"
        )


def _print_log(record: dict) -> None:
    shown = {k: v for k, v in record.items() if k != "local_log"}
    click.echo("Deployment log:")
    click.echo(json.dumps(shown, indent=2, ensure_ascii=False))


def _emit_outputs(record: dict) -> None:
    """Print the seed's step outputs and append them to $GITHUB_OUTPUT when it is set."""
    lines = [
        f"backup_location={record.get('backup_location', 'not-configured')}",
        f"backup_size={record.get('backup_size', 0)}",
    ]
    for line in lines:
        click.echo(line)
    target = os.environ.get("GITHUB_OUTPUT")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write("".join(f"{line}\n" for line in lines))
