"""pre-deploy, worker and server: the commands for a team's Prefect server, from CI, a worker and its host."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from blocks.defaults import environment_or_default
from hht_archival.cli import EXIT_BAD_INPUT, EXIT_FAILED, fail, main
from hht_archival.cli.outputs import print_run_end
from hht_archival.console import prepare_environment


@main.command("pre-deploy")
@click.option("--sponsor", required=True, help="Sponsor to back up.")
@click.option(
    "--environment", help="production, staging or dev. Default: $DEPLOYMENT_ENVIRONMENT, else production."
)
@click.option(
    "--version", "app_version", help="Application version being deployed (also read from DEPLOYMENT_VERSION)."
)
@click.option("--timeout", type=float, help="Give up waiting after this many seconds (the run goes on).")
def pre_deploy(sponsor, environment, app_version, timeout) -> None:
    """Back up a sponsor on the Prefect server before an application deploys, and wait for it.

    Runs the archive-sponsor/pre-deploy deployment with the CI's metadata
    (GITHUB_SHA, GITHUB_ACTOR, GITHUB_RUN_ID...), prints the run's deployment
    log and the seed's outputs (also to $GITHUB_OUTPUT), and exits non-zero
    unless it completed.

    Example: hht-archival pre-deploy --sponsor callisto --environment production
    """
    prepare_environment(debug=False)
    environment = environment_or_default(environment)  # as run and every other command read it
    from deployments.trigger import trigger_pre_deploy
    from flows.run_artifacts import read_record
    from hht_archival.errors import ArchivalError

    try:
        run = trigger_pre_deploy(sponsor, environment, app_version, timeout)
    except ArchivalError as exc:
        fail(str(exc), None, EXIT_BAD_INPUT)
    ended = run.state.name if run.state else "unknown"
    click.echo(f"Flow run {run.name} ({run.id}): {ended}")
    record = read_record(run.id, sponsor, environment)
    print_run_end(record or {})
    if run.state is None or not run.state.is_completed():
        reason = (record or {}).get("error") or (run.state.message if run.state else None) or "no message"
        fail(
            f"The pre-deploy backup of sponsor {sponsor} ({environment}) ended {ended} ({reason}); "
            f"see flow run {run.id} in the Prefect UI.",
            None,
            EXIT_FAILED,
        )


@main.command()
@click.option("--pool", default="hht-archival", show_default=True, help="The work pool to take runs from.")
@click.option("--limit", type=click.IntRange(1, 64), default=4, show_default=True, help="Runs at once here.")
@click.option("--name", help="This worker's name in the Prefect UI. Default: Prefect's.")
@click.option(
    "--log-dir",
    type=click.Path(file_okay=False),
    help="Where this worker's runs keep their local logs. Default: $ARCHIVAL_LOG_DIR, else ./deployment-logs",
)
def worker(pool, limit, name, log_dir) -> None:
    """Run this machine as a worker of the team's Prefect server, from this clone of the repository.

    Each run uses the deployed commit (cloned once per commit on this
    machine), so this clone only provides the Python environment; the runs'
    local logs go to an absolute directory here (a relative one would vanish
    with the run's temporary directory). Runs start warm: a server beside the
    worker imports Prefect and the flows' libraries once and forks each run from
    it (ARCHIVAL_WARM_START=off: each run a new Python process, as Prefect's
    own worker does). Needs PREFECT_API_URL. Ctrl-C or SIGTERM stops the worker's
    runs first, as Cancel in the UI does (each writes its log and ends Cancelled), then
    the worker; a second one stops everything at once.

    Example: PREFECT_API_URL=http://prefect.internal:4200/api hht-archival worker
    """
    prepare_environment(debug=False)
    from hht_archival.engine import configured_api_url

    if configured_api_url() is None:
        fail(
            "No Prefect server is configured for this worker; set PREFECT_API_URL to the team's server "
            "(for example http://prefect.internal:4200/api) and run again.",
            None,
            EXIT_BAD_INPUT,
        )
    from blocks.defaults import LOG_DIR_VARIABLE, local_log_dir

    logs = local_log_dir(log_dir).resolve()
    logs.mkdir(parents=True, exist_ok=True)
    os.environ[LOG_DIR_VARIABLE] = str(logs)
    for quieted in ("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "PREFECT_LOGGING_HANDLERS_DEBUG_LEVEL"):
        os.environ.pop(quieted, None)  # a worker's own log is what its operator reads
    click.echo(f"Worker of pool {pool}: runs keep their local logs in {logs}")
    from hht_archival import import_gc
    from hht_archival.warm_start.launch import warm_start_server, worker_command
    from hht_archival.worker_stop import run_worker

    import_gc.started()  # a worker runs for days: its start-up ends here

    say = lambda line: click.echo(line, err=True)  # noqa: E731
    with warm_start_server(say) as warm:
        command = worker_command(_prefect_executable(), warm is not None)
        command += ["--pool", pool, "--limit", str(limit), *(["--name", name] if name else [])]
        run_worker(command, say, helper=warm)


@main.command("server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all).")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=4200, show_default=True, help="Port to listen on."
)
def server(host, port) -> None:
    """Run the team's Prefect server, on PostgreSQL when ARCHIVAL_PREFECT_DATABASE_URL names a database.

    A fleet of workers writes to the server at once, which Prefect's default
    SQLite database answers with "database is locked"; give it a PostgreSQL
    database instead. The database is created when it does not exist; the
    URL goes to Prefect in its environment, never on a command line. Without
    the setting the server keeps its state in SQLite under PREFECT_HOME, as
    `prefect server start` does (one machine). Ctrl-C stops it.

    Example: ARCHIVAL_PREFECT_DATABASE_URL=postgresql://prefect@db.internal/prefect hht-archival server
    """
    from hht_archival.errors import ArchivalError, ConfigError
    from hht_archival.prefect_database import PREFECT_SETTING, SETTING, described, prepared

    environment = dict(os.environ)
    url = environment.pop(SETTING, "").strip()
    if url:
        try:
            environment[PREFECT_SETTING] = prepared(url)
        except ArchivalError as exc:
            fail(str(exc), None, EXIT_BAD_INPUT if isinstance(exc, ConfigError) else EXIT_FAILED)
        where = described(url)
    else:
        home = environment.get("PREFECT_HOME") or "~/.prefect"
        where = f"SQLite under {home} (one machine; for a fleet of workers, set {SETTING})"
    click.echo(f"Prefect server on http://{host}:{port} (API /api), its state in {where}", err=True)
    prefect = _prefect_executable()
    command = [prefect, "server", "start", "--host", host, "--port", str(port)]
    os.execvpe(prefect, command, environment)  # noqa: S606 (Prefect's own server, its signals its own)


def _prefect_executable() -> str:
    """Prefect's own command from this environment (.venv), whatever PATH the shell has."""
    return shutil.which("prefect", path=str(Path(sys.executable).parent)) or "prefect"
