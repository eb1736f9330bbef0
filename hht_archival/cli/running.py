"""run and demo: the commands that archive; pre-deploy and worker are in server.py.

``run`` is the command's surface only: one sponsor's run is in one_sponsor.py,
a manifest's sponsors in all_sponsors.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hht_archival.cli import EXIT_FAILED, fail, main, refuse_password_in_argv
from hht_archival.console import attach_console, prepare_environment
from hht_archival.stopping import signals_stop_runs


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
    one sponsor's failure never stops another's. Ctrl-C or SIGTERM stops a run
    within seconds (pg_dump ended, the upload aborted, the log written; exit 130
    or 143); a second one exits at once.

    Example: doppler run -- hht-archival run --sponsor callisto
    """
    prepare_environment(debug)
    if manifest is not None and (sponsor or sponsor_block or enabled is not None):
        raise click.UsageError(
            "--manifest runs every sponsor with its own flag; drop --sponsor, "
            "--sponsor-block and --enable/--disable, or drop --manifest."
        )
    with signals_stop_runs():  # Ctrl-C or SIGTERM: stopped within seconds, log written, 130 or 143
        if manifest is not None:
            from hht_archival.cli.all_sponsors import run_manifest

            run_manifest(manifest, only, environment, max_parallel, log_dir, debug)
            return
        from hht_archival.cli.one_sponsor import run_one

        run_one(sponsor, environment, enabled, sponsor_block, log_dir, debug)


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
