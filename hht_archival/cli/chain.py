"""``verify --logs``: the deployment logs' hash chain, as the terminal shows it (cold logs included).

Kept out of archive.py so that module stays about list, restore and the drill.
Cold logs are named with the command that asks for their restore; they are
never reported as a broken chain or as a permission problem (exit 0 when
every link that could be checked holds).
"""

from __future__ import annotations

import click

from hht_archival.cli import EXIT_FAILED, configs_for, fail, fail_on


def verify_logs(
    sponsor: str | None, environment: str, request_glacier_restore: bool, copy: str = "1"
) -> None:
    """The chain of one copy's audit bucket (``copy``: 1, 2 or the second's name), whole on its own."""
    from blocks.second_copy import at_copy
    from hht_archival.adapters import s3
    from hht_archival.chain_verify import request_restores, verify_chain
    from hht_archival.errors import ArchivalError
    from hht_archival.naming import DEPLOYMENT_LOGS_PREFIX

    config = None
    try:
        [config] = configs_for(sponsor, environment, None)
        config = at_copy(config, copy)
        client = s3.client_for(config)
        report = verify_chain(client, config.audit_logs_bucket, config.environment, config.sponsor)
        if request_glacier_restore and report.cold:
            request_restores(client, config.audit_logs_bucket, report.cold, config.sponsor)
    except ArchivalError as exc:  # worded by the layer that failed (S3: s3_errors.translate)
        fail_on(exc, config)
    where = (
        f"s3://{config.audit_logs_bucket}/{DEPLOYMENT_LOGS_PREFIX} ({config.sponsor}, {config.environment})"
    )
    for problem in report.problems:
        click.echo(f"❌ {problem}")
    if report.cold:
        _echo_cold(report.cold, config, request_glacier_restore)
    if not report.intact:
        fail(f"The hash chain of {where} is broken in {len(report.problems)} place(s).", None, EXIT_FAILED)
    unchecked = f"; {report.unchecked} could not be checked until the logs above are readable" * bool(
        report.unchecked
    )
    click.echo(
        f"✅ {report.logs} deployment logs in {where}; the chain of the {report.chained} that carry a "
        f"link is intact as far as it could be read{unchecked}: none was removed or changed (the newest "
        "has no later log to vouch for it)."
    )


def _echo_cold(cold: list[str], config, requested: bool) -> None:
    count = f"{len(cold)} deployment log(s)"
    click.echo(
        f"⚠️  {count} in cold storage (DEEP_ARCHIVE) could not be read, so the link each carries was not "
        "checked (the links to them were, by the SHA-256 HEAD reads):"
    )
    for key in cold:
        click.echo(f"     {key}")
    if requested:
        click.echo(
            f"   Asked Glacier to restore the {count} (Bulk: up to 48 hours, then readable for 7 days); "
            "run the same command without --request-glacier-restore once they are readable."
        )
    else:
        click.echo(
            f"   To check them too: hht-archival verify --logs --sponsor {config.sponsor} --environment "
            f"{config.environment} --request-glacier-restore (Bulk: up to 48 hours), then verify again."
        )
