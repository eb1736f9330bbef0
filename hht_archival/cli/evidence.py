"""``evidence``: one report per sponsor and period that an inspector accepts, made from S3 alone.

Kept in a module of its own: the report is a job apart from list, restore and
verify, though it reads what they read (hht_archival/evidence/report.py).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from hht_archival.cli import EXIT_BAD_INPUT, EXIT_FAILED, configs_for, fail, fail_on, main


@main.command()
@click.option("--sponsor", help="Sponsor. Default: $SPONSOR, else callisto.")
@click.option("--environment", help="production, staging or dev. Default: $DEPLOYMENT_ENVIRONMENT.")
@click.option(
    "--from",
    "first",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    required=True,
    help="First day (YYYY-MM-DD).",
)
@click.option(
    "--to", "last", type=click.DateTime(formats=["%Y-%m-%d"]), required=True, help="Last day (YYYY-MM-DD)."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the HTML report. Default: evidence-SPONSOR-ENVIRONMENT-FROM-TO.html here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report's facts as JSON.")
def evidence(sponsor, environment, first, last, out, as_json) -> None:
    """Evidence for an inspector: every backup of a sponsor in a period, and what went wrong.

    Writes one HTML file (no script, no network, prints well to PDF): every
    backup with its SHA-256, storage class, retention and the run that made
    it; the deployment logs' hash chain walked over the period (cold logs
    named, with the command that thaws them); every restore drill; every
    incident and every day without a successful archive; pictures of size,
    duration and runs by outcome. The same facts are printed with --json.
    Both are stored in the sponsor's audit bucket under evidence/, tagged
    and locked for 7 years; the report's SHA-256 is printed. It reads S3
    only (no backup is read); a configured Prefect server adds crashed runs
    and paged incidents.

    Example: hht-archival evidence --sponsor titan --environment production --from 2026-01-01 --to 2026-12-31
    """
    from hht_archival.adapters import s3
    from hht_archival.errors import ArchivalError
    from hht_archival.evidence.report import build, store

    now = datetime.now(UTC).replace(microsecond=0)
    first, last = first.date(), last.date()
    config = None
    try:
        [config] = configs_for(sponsor, environment, None)
    except ArchivalError as exc:
        fail_on(exc)
    who = f"sponsor {config.sponsor} ({config.environment})"
    if last < first:
        fail(
            f"The period for {who} ends ({last}) before it starts ({first}); swap --from and --to.",
            None,
            EXIT_BAD_INPUT,
        )
    if first > now.date():
        fail(
            f"The period for {who} starts after today ({now.date()}); nothing can be in it yet.",
            None,
            EXIT_BAD_INPUT,
        )
    out = out or Path(f"evidence-{config.sponsor}-{config.environment}-{first}-{last}.html")
    try:
        client = s3.client_for(config)
        facts, html = build(client, config, first, last, now)
    except ArchivalError as exc:  # worded by the layer that failed (S3: s3_errors.translate)
        fail_on(exc, config, EXIT_FAILED)
    try:
        out.write_bytes(html)
    except OSError as exc:
        fail(
            f"The evidence report of {who} could not be written to {out} ({exc.strerror}); "
            "choose another --out.",
            None,
            EXIT_FAILED,
        )
    try:
        facts = store(client, config, facts, html, now)
    except ArchivalError as exc:
        fail(
            f"{exc} The report was written to {out} but not stored in the audit bucket: make it again "
            "once the bucket takes it.",
            None,
            EXIT_FAILED,
        )
    if as_json:
        click.echo(json.dumps(facts, indent=2, ensure_ascii=False))
        return
    _echo_summary(facts, out)


def _echo_summary(facts: dict, out: Path) -> None:
    s, report = facts["summary"], facts["report"]
    chain = "intact" if s["chain"] == "intact" else "BROKEN"
    click.echo(
        f"{'✅' if s['chain'] == 'intact' and not s['problems'] else '⚠️ '} Evidence for sponsor "
        f"{facts['sponsor']} ({facts['environment']}), {facts['period']['from']} to {facts['period']['to']}: "
        f"{s['backups']} backup(s), {s['failed_runs']} failed run(s), hash chain {chain} "
        f"({s['cold_logs']} log(s) cold), {s['drills']} drill(s) ({s['drills_passed']} passed), "
        f"{s['incidents']} incident(s), {s['gap_days']} day(s) without a successful archive."
    )
    click.echo(f"Report: {out}")
    click.echo(f"SHA-256: {report['sha256']}")
    lock = f"; Object Lock until {report['object_lock_until']}" if report["object_lock_until"] else ""
    click.echo(f"Stored: {report['location']} (kept until {report['retain_until']}{lock})")
    click.echo(f"Facts:  {report['facts_location']}")
    click.echo(f"Prefect server: {facts['sources']['prefect_server']}")
