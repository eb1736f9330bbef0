"""list, restore and verify: getting archives back, and proving they come back."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hht_archival.cli import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    configs_for,
    fail,
    fail_on,
    main,
    refuse_password_in_argv,
)
from hht_archival.cli.copies import copy_option
from hht_archival.console import prepare_environment


@main.command("list")
@click.option("--sponsor", help="Sponsor. Default: $SPONSOR, else callisto.")
@click.option("--environment", help="Only this environment (production, staging, dev).")
@click.option(
    "--since", type=click.DateTime(formats=["%Y-%m-%d"]), help="Only from this day on (YYYY-MM-DD)."
)
@click.option("--logs", is_flag=True, help="List the deployment logs instead of the backups.")
@click.option(
    "--limit",
    type=click.IntRange(0),
    default=50,
    show_default=True,
    help="Show only the newest N, each with its SHA-256 and retain-until; 0 for all.",
)
@copy_option()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_archive(sponsor, environment, since, logs, limit, copy, as_json) -> None:
    """The catalogue of a sponsor's archived backups (or logs), newest first.

    Each backup is shown with its roles object (the roles its objects refer to,
    stored beside it). Objects already in DEEP_ARCHIVE say so, and how long a
    Glacier restore takes; an object with its own Object Lock retention shows
    its mode and date.

    Example: hht-archival list --sponsor titan --since 2026-01-01
    """
    from blocks.second_copy import at_copy
    from hht_archival.adapters import s3
    from hht_archival.catalogue import add_details, list_entries
    from hht_archival.errors import ArchivalError
    from hht_archival.naming import BACKUPS_PREFIX, DEPLOYMENT_LOGS_PREFIX

    config = None
    try:
        [config] = configs_for(sponsor, None, None)
        config = at_copy(config, copy)
        client = s3.client_for(config)
        bucket = config.audit_logs_bucket if logs else config.backups_bucket
        entries = list_entries(
            client,
            bucket,
            DEPLOYMENT_LOGS_PREFIX if logs else BACKUPS_PREFIX,
            environment,
            since.date() if since else None,
            config.sponsor,
        )
        shown = entries if limit == 0 else entries[:limit]
        add_details(client, bucket, shown, config.sponsor)
    except ArchivalError as exc:  # worded by the layer that failed (S3: s3_errors.translate)
        fail_on(exc, config)
    if as_json:
        click.echo(json.dumps([e.as_dict() for e in shown], indent=2))
        return
    click.echo(
        f"{len(entries)} {'log' if logs else 'backup'}(s) in s3://{bucket}"
        + (f", newest {len(shown)} shown" if len(shown) < len(entries) else "")
    )
    for e in shown:
        click.echo(
            f"  {e.stamp}  {e.environment:7s} {e.size:>12,d} B  {e.storage_class:12s} "
            f"retain-until {e.retain_until}  sha256 {e.sha256}  {e.key}"
        )
        if e.locked_until:
            click.echo(f"      Object Lock: {e.lock_mode} until {e.locked_until} (cannot be deleted before)")
        if e.cold:
            command = "verify --logs" if e.kind == "log" else "restore"
            ask = f"hht-archival {command} --request-glacier-restore starts it"
            if 'ongoing-request="true"' in e.restore:
                ask = "a Glacier restore is under way"
            click.echo(f"      in {e.storage_class}: {e.cold}; {ask}")
        elif e.restore:
            click.echo(f"      in {e.storage_class}, restored from Glacier for a while ({e.restore})")
        if e.kind == "backup":
            click.echo(
                f"      roles: {e.roles.size:,d} B  sha256 {e.roles.sha256}  {e.roles.key}"
                if e.roles
                else "      roles: none archived with this backup (made before roles were archived)"
            )


@main.command()
@click.option("--sponsor", help="Sponsor. Default: $SPONSOR, else callisto.")
@click.option("--environment", help="production, staging or dev. Default: $DEPLOYMENT_ENVIRONMENT.")
@click.option("--backup", default="latest", show_default=True, help="latest, a date (YYYY-MM-DD) or a key.")
@click.option(
    "--target-url",
    envvar="RESTORE_TARGET_URL",
    required=True,
    help="Database to restore into (or $RESTORE_TARGET_URL; passwords belong there or in ~/.pgpass).",
)
@click.option("--force", is_flag=True, help="Restore even if the target already holds tables.")
@click.option(
    "--i-know-this-is-production",
    "production_ok",
    is_flag=True,
    help="Allow the sponsor's own DATABASE_URL as the target.",
)
@click.option("--request-glacier-restore", is_flag=True, help="Start the Glacier restore of a cold backup.")
@click.option(
    "--no-owner",
    is_flag=True,
    help="Do not restore owners and grants: every object belongs to the restoring user (a quick look).",
)
@click.option(
    "--login-roles",
    is_flag=True,
    help="Create missing roles with the LOGIN they were archived with (default: NOLOGIN).",
)
@copy_option()
def restore(
    sponsor,
    environment,
    backup,
    target_url,
    force,
    production_ok,
    request_glacier_restore,
    no_owner,
    login_roles,
    copy,
) -> None:
    """Download a backup, verify its SHA-256, and only then restore it into a database.

    The roles the backup's objects refer to are archived beside it: missing ones
    are created (NOLOGIN) in the same transaction as the tables, so the backup
    restores on a fresh cluster with its owners and grants; existing roles are
    left as they are. Both are reported.

    Example: RESTORE_TARGET_URL=postgresql://postgres@localhost/scratch hht-archival restore --sponsor titan
    """
    import tempfile

    from blocks.second_copy import at_copy
    from hht_archival.adapters import s3
    from hht_archival.errors import ArchivalError
    from hht_archival.restore import restore_backup

    refuse_password_in_argv("--target-url", target_url, "RESTORE_TARGET_URL")
    config = None
    try:
        [config] = configs_for(sponsor, environment, None)
        config = at_copy(config, copy)
        client = s3.client_for(config)
        with tempfile.TemporaryDirectory(prefix="hht-restore-", dir=config.work_dir) as work:
            done = restore_backup(
                client,
                config,
                backup,
                target_url,
                Path(work),
                force=force,
                production_ok=production_ok,
                request_glacier_restore=request_glacier_restore,
                no_owner=no_owner,
                login_roles=login_roles,
            )
    except ArchivalError as exc:  # worded by the layer that failed (S3: s3_errors.translate)
        fail_on(exc, config, EXIT_FAILED)
    click.echo(
        f"Restored s3://{config.backups_bucket}/{done.key} ({done.size:,d} bytes, sha256 {done.sha256} "
        "verified before restore)."
    )
    if done.log_cold:
        click.echo(
            "Its deployment log is in cold storage: the SHA-256 recorded with the backup itself (its tag, "
            "cross-checked with the log's metadata where it has it) was used."
        )
    click.echo(done.roles.summary())


@main.command()
@click.option("--sponsor", help="Sponsor. Default: $SPONSOR, else callisto.")
@click.option(
    "--environment", help="production, staging or dev. Default: $DEPLOYMENT_ENVIRONMENT, else production."
)
@click.option("--backup", default="latest", show_default=True, help="latest, a date (YYYY-MM-DD) or a key.")
@click.option(
    "--logs", is_flag=True, help="Check the deployment logs' hash chain instead (no database needed)."
)
@click.option(
    "--request-glacier-restore",
    is_flag=True,
    help="With --logs: ask Glacier to restore the logs in cold storage, so a later run can check them.",
)
@click.option(
    "--copies",
    is_flag=True,
    help="Compare the two copies of every backup (read back, SHA-256) instead; exit 1 if one differs.",
)
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="With --copies: only backups from this day on (YYYY-MM-DD).",
)
@copy_option("With --logs: which copy's chain: 1, 2, or the second destination's name.")
@click.option("--debug", is_flag=True, help="Show Prefect's logs and full tracebacks.")
def verify(sponsor, environment, backup, logs, request_glacier_restore, copies, since, copy, debug) -> None:
    """Restore drill: restore a backup into a throwaway database and check it against the record.

    Needs the sponsor's drill scratch server, the admin URL of a scratch
    PostgreSQL server: ARCHIVAL_DRILL_DATABASE_URL for the sponsor SPONSOR
    names, TITAN_ARCHIVAL_DRILL_DATABASE_URL for titan (or its sponsor block);
    without one it fails saying so. The report goes to the audit bucket
    (drills/...) and to the Prefect UI.

    With --logs: walk the deployment logs' hash chain in the audit bucket and
    report any log removed or changed; exit 1 if the chain is broken. Logs in
    cold storage are named (their own links cannot be read until restored);
    --request-glacier-restore asks for them.

    With --copies: read back both copies of every backup (of --since on) of a
    sponsor with a second destination and compare their SHA-256 with each other
    and with the recorded one; a copy that differs or is missing is named; exit
    1 then.

    Examples: hht-archival verify --sponsor titan   (with TITAN_ARCHIVAL_DRILL_DATABASE_URL set)
              hht-archival verify --logs --sponsor titan --environment production
              hht-archival verify --copies --sponsor titan --since 2026-12-01
    """
    if copies:
        from hht_archival.cli.copies import verify_copies

        verify_copies(sponsor, environment, since.date() if since else None)
        return
    if logs:
        from hht_archival.cli.chain import verify_logs

        verify_logs(sponsor, environment, request_glacier_restore, copy)
        return
    if copy not in ("1", "primary"):
        fail(
            "The restore drill restores the first copy; to restore the second, use hht-archival restore "
            f"--copy {copy} into a scratch database, and verify --copies to compare both copies.",
            None,
            EXIT_BAD_INPUT,
        )
    prepare_environment(debug)
    from blocks.defaults import environment_or_default, sponsor_or_home
    from hht_archival.engine import start_prefect_api
    from hht_archival.errors import ConfigError, one_sentence

    sponsor = sponsor_or_home(sponsor)
    api_ready = start_prefect_api(f"sponsor {sponsor}", debug)  # the imports below overlap its start
    from flows.restore_drill import restore_drill
    from hht_archival.drill import render_markdown

    try:
        api_ready()
        report = restore_drill(
            sponsor=sponsor, environment=environment_or_default(environment), backup=backup, return_state=True
        ).result()
    except Exception as exc:
        fail(one_sentence(exc), None, EXIT_BAD_INPUT if isinstance(exc, ConfigError) else EXIT_FAILED)
    click.echo(render_markdown(report))
