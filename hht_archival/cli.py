"""The ``hht-archival`` command: a thin layer over the flows, with one sentence for every failure.

Exit status: 0 archived or skipped, 1 the run failed, 2 bad input (nothing done).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

import click

from hht_archival.console import attach_console, prepare_environment

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hht-archival")
def main() -> None:
    """Archive PostgreSQL backups and deployment logs to S3 with 7-year retention.

    Example: hht-archival run --sponsor callisto --environment production
    """


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
    from blocks.config import resolve_config
    from flows.archive_sponsor import ArchivalFailed, archive_sponsor, record_config_failure
    from hht_archival.errors import ArchivalError, one_sentence

    if sponsor_block is None:
        try:
            resolve_config(sponsor=sponsor, environment=environment, enabled=enabled, log_dir=log_dir)
        except ArchivalError as exc:
            failure = record_config_failure(exc, sponsor, environment, log_dir, None)
            _fail(str(failure), failure.log_path, EXIT_BAD_INPUT)

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
        _fail(str(exc), exc.log_path, EXIT_FAILED)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        _fail(one_sentence(exc), None, EXIT_FAILED)

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
        _refuse_password_in_argv("--database-url", database_url, "DATABASE_URL")
    from hht_archival.demo import run_demo
    from hht_archival.errors import ArchivalError

    if not debug:
        attach_console()
    try:
        code = run_demo(database_url=database_url, sponsor=sponsor, out_dir=Path(out_dir))
    except ArchivalError as exc:
        _fail(str(exc), getattr(exc, "log_path", None), EXIT_FAILED)
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
        _fail(str(exc), None, EXIT_BAD_INPUT)
    ended = run.state.name if run.state else "unknown"
    click.echo(f"Flow run {run.name} ({run.id}): {ended}")
    if run.state is None or not run.state.is_completed():
        reason = (run.state.message if run.state else None) or "no message"
        _fail(
            f"The pre-deploy backup of sponsor {sponsor} ({environment}) ended {ended} ({reason}); "
            f"see flow run {run.id} in the Prefect UI.",
            None,
            EXIT_FAILED,
        )


@main.command()
@click.option("--sponsor", help="Sponsor to check. Default: $SPONSOR, else callisto.")
@click.option("--environment", help="production, staging or dev. Default: $DEPLOYMENT_ENVIRONMENT.")
@click.option(
    "--manifest", type=click.Path(dir_okay=False), help="Check every sponsor of this manifest instead."
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def doctor(sponsor, environment, manifest, as_json) -> None:
    """Check everything an enabled run needs, and print the fix for each failure.

    Flag and where it comes from, settings, AWS identity, both buckets (region,
    versioning, encryption, public access, lifecycle, Object Lock), a probe
    object under doctor/, the database and pg_dump's version. Exit 0 only
    when every check an enabled run needs passes.

    Example: hht-archival doctor --sponsor callisto --environment production
    """
    prepare_environment(debug=False)
    from hht_archival.doctor import passed, render, run_checks
    from hht_archival.errors import ArchivalError

    try:
        configs = _configs_for(sponsor, environment, manifest)
        rows = [
            row for config in configs for row in run_checks(config, _flag_without_starting_prefect(config))
        ]
    except ArchivalError as exc:
        _fail(str(exc), None, EXIT_BAD_INPUT)
    if as_json:
        click.echo(json.dumps([row.as_dict() for row in rows], indent=2, ensure_ascii=False))
    else:
        click.echo(render(rows))
    sys.exit(0 if passed(rows) else EXIT_FAILED)


@main.command()
@click.option("--sponsor", help="Sponsor whose buckets to provision. Default: $SPONSOR, else callisto.")
@click.option("--environment", help="production, staging or dev (for the settings it reads).")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option(
    "--object-lock",
    type=click.Choice(["compliance", "governance"]),
    help="Also set Object Lock (irreversible).",
)
@click.option(
    "--years", type=click.IntRange(1, 100), default=7, show_default=True, help="Object Lock retention."
)
@click.option("--yes", is_flag=True, help="Do not ask before enabling Object Lock.")
def provision(sponsor, environment, dry_run, object_lock, years, yes) -> None:
    """Create or bring up to date a sponsor's two buckets, as doctor checks them.

    Idempotent, and it never weakens: a longer retention, a compliance lock or
    another lifecycle rule already there stays. For development, staging and
    sponsors without Terraform.

    Example: hht-archival provision --sponsor titan --dry-run
    """
    prepare_environment(debug=False)
    from hht_archival.adapters import s3
    from hht_archival.errors import ArchivalError
    from hht_archival.provision import lock_warning, plan_bucket

    lock = (object_lock, years) if object_lock else None
    try:
        [config] = _configs_for(sponsor, environment, None)
        client = s3.make_client(config.region, config.aws_credentials)
        buckets = (config.backups_bucket, config.audit_logs_bucket)
        changes = [
            c for b in buckets for c in plan_bucket(client, b, config.region, config.sse_kms_key_id, lock)
        ]
    except ArchivalError as exc:
        _fail(str(exc), None, EXIT_BAD_INPUT)
    except Exception as exc:  # botocore: one sentence with the remedy
        _fail(s3.translate(exc, sponsor or "callisto", "provisioning").args[0], None, EXIT_FAILED)
    if not changes:
        click.echo(f"Nothing to change: {' and '.join(buckets)} already match what doctor checks.")
        return
    click.echo("Would change:" if dry_run else "Changes:")
    for change in changes:
        click.echo(f"  {change.describe()}")
    if dry_run:
        return
    if any(change.setting == "object lock" for change in changes):
        for bucket in buckets:
            click.echo(f"⚠️  {lock_warning(bucket, lock)}")
        if not yes and not click.confirm("Enable it?", default=False):
            _fail(
                "Nothing was changed: Object Lock was not confirmed; run again with --yes to confirm.",
                None,
                EXIT_FAILED,
            )
    try:
        for change in changes:
            change.apply()
    except Exception as exc:
        _fail(s3.translate(exc, config.sponsor, f"changing {change.describe()}").args[0], None, EXIT_FAILED)
    click.echo(f"Done: {len(changes)} change(s). Check with: hht-archival doctor --sponsor {config.sponsor}")


@main.command("iam-policy")
@click.option("--sponsor", help="Sponsor whose archival role this is. Default: $SPONSOR, else callisto.")
@click.option("--environment", help="production, staging or dev (for the settings it reads).")
def iam_policy(sponsor, environment) -> None:
    """Print the least-privilege IAM policy for the archival role, as JSON.

    Exact actions on exact bucket ARNs and prefixes: the role can add backups
    and logs, tag them, and probe under doctor/; it cannot read or delete an archive.

    Example: hht-archival iam-policy --sponsor titan > titan-archival-policy.json
    """
    from hht_archival.errors import ArchivalError
    from hht_archival.iam import policy_json

    try:
        [config] = _configs_for(sponsor, environment, None)
        document = policy_json(
            config.sponsor, config.backups_bucket, config.audit_logs_bucket, kms_key_arn=config.sse_kms_key_id
        )
    except ArchivalError as exc:
        _fail(str(exc), None, EXIT_BAD_INPUT)
    click.echo(document)


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
    help="Show details (SHA-256, retain-until) for this many; 0 for all.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_archive(sponsor, environment, since, logs, limit, as_json) -> None:
    """The catalogue of a sponsor's archived backups (or logs), newest first.

    Objects already in DEEP_ARCHIVE say so, and how long a Glacier restore takes.

    Example: hht-archival list --sponsor titan --since 2026-01-01
    """
    from hht_archival.adapters import s3
    from hht_archival.catalogue import add_details, list_entries
    from hht_archival.errors import ArchivalError

    try:
        [config] = _configs_for(sponsor, None, None)
        client = s3.make_client(config.region, config.aws_credentials)
        bucket = config.audit_logs_bucket if logs else config.backups_bucket
        entries = list_entries(
            client,
            bucket,
            "deployments/" if logs else "backups/",
            environment,
            since.date() if since else None,
        )
        shown = entries if limit == 0 else entries[:limit]
        add_details(client, bucket, shown)
    except ArchivalError as exc:
        _fail(str(exc), None, EXIT_BAD_INPUT)
    except Exception as exc:
        _fail(s3.translate(exc, config.sponsor, f"listing s3://{bucket}").args[0], None, EXIT_FAILED)
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
        if e.cold:
            click.echo(
                f"      in {e.storage_class}: {e.cold}; "
                "hht-archival restore --request-glacier-restore starts it"
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
def restore(sponsor, environment, backup, target_url, force, production_ok, request_glacier_restore) -> None:
    """Download a backup, verify its SHA-256, and only then restore it into a database.

    Example: RESTORE_TARGET_URL=postgresql://postgres@localhost/scratch hht-archival restore --sponsor titan
    """
    import tempfile

    from hht_archival.adapters import s3
    from hht_archival.errors import ArchivalError
    from hht_archival.restore import restore_backup

    _refuse_password_in_argv("--target-url", target_url, "RESTORE_TARGET_URL")
    try:
        [config] = _configs_for(sponsor, environment, None)
        client = s3.make_client(config.region, config.aws_credentials)
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
            )
    except ArchivalError as exc:
        _fail(str(exc), None, EXIT_FAILED)
    except Exception as exc:
        _fail(s3.translate(exc, config.sponsor, "restoring").args[0], None, EXIT_FAILED)
    click.echo(
        f"Restored s3://{config.backups_bucket}/{done.key} ({done.size:,d} bytes, sha256 {done.sha256} "
        "verified before restore)."
    )


@main.command()
@click.option("--sponsor", help="Sponsor. Default: $SPONSOR, else callisto.")
@click.option("--environment", default="production", show_default=True, help="production, staging or dev.")
@click.option("--backup", default="latest", show_default=True, help="latest, a date (YYYY-MM-DD) or a key.")
@click.option("--debug", is_flag=True, help="Show Prefect's logs and full tracebacks.")
def verify(sponsor, environment, backup, debug) -> None:
    """Restore drill: restore a backup into a throwaway database and check it against the record.

    Needs ARCHIVAL_DRILL_DATABASE_URL, the admin URL of a scratch server. The
    report goes to the audit bucket (drills/...) and to the Prefect UI.

    Example: hht-archival verify --sponsor titan   (with ARCHIVAL_DRILL_DATABASE_URL set)
    """
    prepare_environment(debug)
    from flows.restore_drill import restore_drill
    from hht_archival.drill import render_markdown
    from hht_archival.errors import one_sentence

    sponsor = sponsor or os.environ.get("SPONSOR") or "callisto"
    state = restore_drill(sponsor=sponsor, environment=environment, backup=backup, return_state=True)
    try:
        report = state.result()
    except Exception as exc:
        _fail(one_sentence(exc), None, EXIT_FAILED)
    click.echo(render_markdown(report))


def _refuse_password_in_argv(option: str, url: str, envvar: str) -> None:
    """A password typed as an option is visible to every user of the machine (ps, /proc): refuse it."""
    import sys as _sys

    from psycopg.conninfo import conninfo_to_dict

    try:
        has_password = "password" in conninfo_to_dict(url)
    except Exception:
        return
    if has_password and any(url in arg for arg in _sys.argv):
        _fail(
            f"{option} carries a password, which other users can see in the process list; put the URL in "
            f"{envvar} (or the password in ~/.pgpass) instead.",
            None,
            EXIT_BAD_INPUT,
        )


def _configs_for(sponsor, environment, manifest):
    from blocks.config import resolve_config
    from blocks.manifest import resolve_manifest

    if manifest is None:
        return [resolve_config(sponsor=sponsor, environment=environment)]
    return resolve_manifest(manifest, environment)


def _flag_without_starting_prefect(config):
    """The flag and its source; the Prefect variable is only asked when a Prefect server is configured."""
    from tasks.check_flag import decide

    flag = config.flag
    if flag.parameter is None and flag.block is None and flag.environment_raw is None:
        if not os.environ.get("PREFECT_API_URL"):
            return None
    decision = decide(config)
    return decision.enabled, decision.source


def _run_manifest(manifest, only, environment, max_parallel, log_dir, debug) -> None:
    from blocks.manifest import expand, load_manifest
    from flows.archive_all_sponsors import SponsorsFailed, archive_all_sponsors
    from hht_archival.errors import ArchivalError, one_sentence

    sponsors = [name.strip() for name in only.split(",") if name.strip()] if only else None
    environments = [environment] if environment else None
    try:
        runs = expand(load_manifest(manifest), sponsors, environments)
    except ArchivalError as exc:
        _fail(str(exc), None, EXIT_BAD_INPUT)
    if not runs:
        _fail(
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
        _fail(str(exc), None, EXIT_FAILED)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        _fail(one_sentence(exc), None, EXIT_FAILED)
    _print_summary(summary)


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


def _fail(sentence: str, log_path, code: int) -> None:
    click.echo(f"❌ {sentence}", err=True)
    if log_path:
        click.echo(f"Local log (status: failed): {log_path}", err=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
