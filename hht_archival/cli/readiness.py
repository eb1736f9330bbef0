"""doctor, provision and iam-policy: what must hold before archival is enabled."""

from __future__ import annotations

import json
import sys

import click

from hht_archival.cli import EXIT_BAD_INPUT, EXIT_FAILED, configs_for, fail, fail_on, main
from hht_archival.console import prepare_environment


@main.command()
@click.option("--sponsor", help="Sponsor to check. Default: $SPONSOR, else callisto.")
@click.option(
    "--environment", help="production, staging or dev. Default: $DEPLOYMENT_ENVIRONMENT, else production."
)
@click.option("--sponsor-block", help="Check with this hht-sponsor-archival block, as run --sponsor-block.")
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False),
    help="Check every sponsor of this manifest instead, as run --manifest and the nightly resolve them.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def doctor(sponsor, environment, sponsor_block, manifest, as_json) -> None:
    """Check everything an enabled run needs, and print the fix for each failure.

    The flag and where it comes from, the settings and the variables this
    sponsor reads (as run resolves them), the AWS identity, both buckets
    (region, versioning, encryption, public access, lifecycle, Object Lock), a
    probe object under doctor/ (written, tagged, read back, removed), whether
    that identity can read backups/, the log chain, the database, the archive
    lock and pg_dump's version. A sponsor name close to a known one is refused
    with "did you mean". Exit 0 when no check is ❌; ⚠️ rows are advice.

    Examples: hht-archival doctor --sponsor callisto --environment production
              hht-archival doctor --manifest sponsors.yaml
    """
    prepare_environment(debug=False)
    from hht_archival.doctor import passed, render
    from hht_archival.doctor_targets import check_targets
    from hht_archival.errors import ArchivalError
    from hht_archival.flag_here import decide_here

    if manifest is not None and (sponsor or sponsor_block):
        raise click.UsageError("--manifest checks every sponsor of it; drop --sponsor and --sponsor-block.")
    try:
        rows = check_targets(sponsor, environment, manifest, decide_here, sponsor_block)
    except ArchivalError as exc:
        fail(str(exc), None, EXIT_BAD_INPUT)
    if as_json:
        click.echo(json.dumps([row.as_dict() for row in rows], indent=2, ensure_ascii=False))
    else:
        click.echo(render(rows))
    sys.exit(0 if passed(rows) else EXIT_FAILED)


@main.command()
@click.option("--sponsor", help="Sponsor whose buckets to provision. Default: $SPONSOR, else callisto.")
@click.option(
    "--environment",
    help="production, staging or dev (for the settings it reads). Default: $DEPLOYMENT_ENVIRONMENT.",
)
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

    With a second copy (ARCHIVAL_COPY2_*), its two buckets too, each at its own
    destination with its own identity, region and KMS key. Idempotent, and it
    never weakens: a longer retention, a compliance lock or another lifecycle
    rule already there stays. For development, staging and
    sponsors without Terraform.

    Example: hht-archival provision --sponsor titan --dry-run
    """
    prepare_environment(debug=False)
    from blocks.second_copy import at_copy
    from hht_archival.adapters import s3
    from hht_archival.doctor_targets import refuse_a_likely_typo
    from hht_archival.errors import ArchivalError
    from hht_archival.provision import lock_warning, plan_bucket

    lock = (object_lock, years) if object_lock else None
    config = None
    try:
        refuse_a_likely_typo(sponsor, "hht-archival provision --sponsor {sponsor}")  # before creating
        [config] = configs_for(sponsor, environment, None)
        sides = [config, at_copy(config, 2)] if config.second else [config]  # each copy's own buckets
        buckets = [bucket for side in sides for bucket in (side.backups_bucket, side.audit_logs_bucket)]
        changes = [
            change
            for side in sides
            for bucket in (side.backups_bucket, side.audit_logs_bucket)
            for change in plan_bucket(
                s3.client_for(side), bucket, side.region, side.sse_kms_key_id, lock, side.sponsor
            )
        ]
    except ArchivalError as exc:  # worded by the layer that failed (S3: s3_errors.translate)
        fail_on(exc, config)
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
            fail(
                "Nothing was changed: Object Lock was not confirmed; run again with --yes to confirm.",
                None,
                EXIT_FAILED,
            )
    try:
        for change in changes:
            change.apply()
    except ArchivalError as exc:
        fail_on(exc, config)
    click.echo(f"Done: {len(changes)} change(s). Check with: hht-archival doctor --sponsor {config.sponsor}")


@main.command("iam-policy")
@click.option("--sponsor", help="Sponsor whose archival role this is. Default: $SPONSOR, else callisto.")
@click.option("--environment", help="production, staging or dev (for the settings it reads).")
@click.option(
    "--reader",
    is_flag=True,
    help="The policy of whoever checks the archive (verify --logs, evidence) instead: read the audit "
    "records, list backup keys, store evidence reports; read no backup, delete nothing.",
)
def iam_policy(sponsor, environment, reader) -> None:
    """Print the least-privilege IAM policy for the archival role, as JSON.

    Exact actions on exact bucket ARNs and prefixes: the role can add backups
    and logs, tag them, and probe under doctor/; it cannot read or delete an archive.
    With --reader, the policy for an auditor's or operator's identity that runs
    verify --logs and evidence.

    Example: hht-archival iam-policy --sponsor titan > titan-archival-policy.json
    """
    from hht_archival.errors import ArchivalError
    from hht_archival.iam import policy_json

    try:
        [config] = configs_for(sponsor, environment, None)
        document = policy_json(
            config.sponsor,
            config.backups_bucket,
            config.audit_logs_bucket,
            kms_key_arn=config.sse_kms_key_id,
            reader=reader,
        )
    except ArchivalError as exc:
        fail(str(exc), None, EXIT_BAD_INPUT)
    click.echo(document)
