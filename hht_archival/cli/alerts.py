"""alerts install, alerts remove and status: who hears of a stale, failed or shrunken archive, and what is."""

from __future__ import annotations

import json
import sys

import click

from hht_archival.cli import EXIT_BAD_INPUT, EXIT_FAILED, configs_for, fail, main
from hht_archival.console import prepare_environment


@main.group()
def alerts() -> None:
    """Notify a person when an archive is missed, fails, shrinks, or a drill or hash chain breaks.

    Example: hht-archival alerts install --block slack-webhook/ops-alerts --manifest sponsors.yaml
    """


@alerts.command("install")
@click.option(
    "--block",
    "block_ref",
    required=True,
    help="The notification block, TYPE/NAME as `prefect block ls` shows it (e.g. slack-webhook/ops-alerts).",
)
@click.option("--sponsor", help="Sponsor to watch. Default: $SPONSOR, else callisto.")
@click.option("--environment", help="production, staging or dev. Default: $DEPLOYMENT_ENVIRONMENT.")
@click.option("--manifest", type=click.Path(dir_okay=False), help="Watch every sponsor of this manifest.")
@click.option(
    "--archive-every", default="26h", show_default=True, help="A successful archive is expected this often."
)
@click.option(
    "--drill-every", default="8d", show_default=True, help="A passing drill is expected this often."
)
def install(block_ref, sponsor, environment, manifest, archive_every, drill_every) -> None:
    """Install (or bring up to date) the Prefect automations that watch each enabled sponsor.

    Per enabled sponsor and environment, an expectation of a successful archive,
    and of a passing restore drill where its drills are configured (a scratch
    server of its own: TITAN_ARCHIVAL_DRILL_DATABASE_URL for titan; doctor
    shows it); for all, the relay that sends what runs report (failed,
    anomalous, broken chain, and each recovery) and a notice of crashed runs,
    all through one notification block. Run it where the sponsors' settings
    are, as the workers have them. Idempotent: run it again after adding or
    enabling a sponsor or its drills. Needs a Prefect server (PREFECT_API_URL).

    Example: hht-archival alerts install --block slack-webhook/ops-alerts --manifest sponsors.yaml
    """
    prepare_environment(debug=False)
    from hht_archival import alerts as spec
    from hht_archival.alerts_coverage import NO_UI_URL
    from hht_archival.alerts_install import install as install_alerts
    from hht_archival.drill_setting import configured
    from hht_archival.errors import ArchivalError
    from hht_archival.flag_here import decide_here

    try:
        archive_window = spec.parse_every(archive_every, "--archive-every")
        drill_window = spec.parse_every(drill_every, "--drill-every")
    except ValueError as exc:
        fail(str(exc), None, EXIT_BAD_INPUT)
    server = _server_or_fail("alerts install")
    try:
        configs = configs_for(sponsor, environment, manifest)
        decided = [(config, decide_here(config).enabled) for config in configs]
        enabled = [(c.sponsor, c.environment) for c, on in decided if on]
        disabled = [(c.sponsor, c.environment) for c, on in decided if not on]
        drilled = [(c.sponsor, c.environment) for c, on in decided if on and configured(c)]
        done = install_alerts(enabled, disabled, block_ref, archive_window, drill_window, drilled)
    except ArchivalError as exc:
        fail(str(exc), None, EXIT_BAD_INPUT)
    except Exception as exc:
        fail(_unreachable(server, exc), None, EXIT_FAILED)
    click.echo(f"Alerts through {done.block} on {server}:")
    for config, on in decided:
        click.echo(f"  {_installed_line(config, on, archive_window, drill_window)}")
    for sponsor_name, env in done.uncovered:
        click.echo(
            f"  ⚠️  {sponsor_name} ({env}): runs on this server and its failures notify, but no archive is "
            f"expected of it; add it to the manifest or run this with --sponsor {sponsor_name} --environment "
            f"{env} to be told when it stops running"
        )
    if not done.ui_url:
        click.echo(f"  ⚠️  Messages cannot link to runs: {NO_UI_URL}.")
    click.echo(
        f"Automations: {len(done.created)} created, {len(done.updated)} updated, {len(done.unchanged)} "
        f"unchanged, {len(done.removed)} removed; ledgers: {len(done.ledgers_created)} created."
    )


@alerts.command("remove")
def remove() -> None:
    """Remove every automation and ledger alerts install made (names starting hht-alerts-).

    Open incidents are forgotten with their ledgers. Needs PREFECT_API_URL.

    Example: hht-archival alerts remove
    """
    prepare_environment(debug=False)
    from hht_archival.alerts_install import remove_all

    server = _server_or_fail("alerts remove")
    try:
        removed = remove_all()
    except Exception as exc:
        fail(_unreachable(server, exc), None, EXIT_FAILED)
    click.echo(f"Removed {len(removed)} automation(s) and ledger(s) from {server}.")


@main.command()
@click.option("--sponsor", help="Sponsor. Default: $SPONSOR, else callisto.")
@click.option("--environment", help="production, staging or dev. Default: $DEPLOYMENT_ENVIRONMENT.")
@click.option("--manifest", type=click.Path(dir_okay=False), help="Every sponsor of this manifest.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.option(
    "--publish",
    is_flag=True,
    help="Run it as the archive-status flow on the Prefect server: walk each hash chain (a broken one "
    "notifies) and publish the table artifact archive-status.",
)
def status(sponsor, environment, manifest, as_json, publish) -> None:
    """One line per sponsor and environment: last archive, size trend, last drill, chain, expectations.

    The last archive, its size and trend come from the deployment logs in the
    sponsor's audit bucket; the last drill, the hash chain's last check, the
    expectations and open incidents from the alerts' ledgers on the Prefect
    server (PREFECT_API_URL). Exit 1 when any needs attention: an open
    incident, a missed expectation or an unreadable archive. With --publish it
    is what the nightly's status deployment does, run here.

    Example: hht-archival status --manifest sponsors.yaml
    """
    prepare_environment(debug=False)
    from hht_archival.engine import configured_api_url
    from hht_archival.errors import ArchivalError
    from hht_archival.flag_here import decide_here
    from hht_archival.status import StatusRow, build_row, read_ledgers, render

    try:
        if publish:
            _server_or_fail("status --publish")
            rows = [StatusRow(**row) for row in _published(sponsor, environment, manifest)]
        else:
            configs = configs_for(sponsor, environment, manifest)
            rows = [
                build_row(c, decide_here(c).enabled, read_ledgers(c.sponsor, c.environment)) for c in configs
            ]
    except ArchivalError as exc:
        fail(str(exc), None, EXIT_BAD_INPUT)
    except Exception as exc:  # the archive itself is read per row, errors and all: this is the server
        fail(_unreachable(configured_api_url() or "PREFECT_API_URL", exc), None, EXIT_FAILED)
    if as_json:
        click.echo(json.dumps([row.as_dict() for row in rows], indent=2, ensure_ascii=False))
    else:
        click.echo(render(rows))
    sys.exit(EXIT_FAILED if any(row.attention for row in rows) else 0)


def _installed_line(config, on: bool, archive_window, drill_window) -> str:
    """What alerts install now expects of one sponsor and environment, and why not more."""
    from hht_archival import alerts as spec
    from hht_archival.drill_setting import configured, not_configured

    pair = f"{config.sponsor} ({config.environment})"
    if not on:
        return f"⚠️  {pair}: archival is not enabled, so nothing is expected of it"
    archive = f"a successful archive expected every {spec.describe(archive_window)}"
    if not configured(config):
        return f"✅ {pair}: {archive}; {not_configured(config)}, so no drill is expected"
    return f"✅ {pair}: {archive}, a passing restore drill every {spec.describe(drill_window)}"


def _published(sponsor, environment, manifest) -> list[dict]:
    """The archive-status flow (flows/status.py), run in this process against the configured server."""
    from blocks.defaults import home_sponsor
    from flows.status import archive_status

    return archive_status(
        manifest=manifest, sponsor=sponsor or (None if manifest else home_sponsor()), environment=environment
    )


def _server_or_fail(command: str) -> str:
    from hht_archival.engine import configured_api_url

    server = configured_api_url()
    if server is None:
        fail(
            f"{command} needs a Prefect server, where the automations, the notification block and the runs' "
            "events live; start one (prefect server start) and set PREFECT_API_URL to it, then run again.",
            None,
            EXIT_BAD_INPUT,
        )
    return server


def _unreachable(server: str, exc: Exception) -> str:
    """The sentence for a Prefect server that failed us; any other error keeps its own sentence."""
    import httpx

    from hht_archival.errors import one_sentence

    if not isinstance(exc, httpx.HTTPError) and "prefect" not in type(exc).__module__:
        return one_sentence(exc)
    return (
        f"The Prefect server at {server} did not answer as expected ({type(exc).__name__}); check that it "
        "runs and that PREFECT_API_URL points at it, then run again."
    )
