"""``verify --copies`` as the terminal shows it, and the ``--copy`` option of list, restore and verify.

Kept out of archive.py (as chain.py is) so that module stays about list, restore and the drill.
"""

from __future__ import annotations

import click

from hht_archival.cli import EXIT_FAILED, configs_for, fail, fail_on


def copy_option(help_text: str = "Which copy: 1 (the first), 2, or the second destination's name."):
    """``--copy`` as list, restore and verify --logs take it (blocks/second_copy.at_copy reads it)."""
    return click.option("--copy", "copy", default="1", show_default=True, help=help_text)


def verify_copies(sponsor: str | None, environment: str | None, since) -> None:
    from hht_archival.copies import compare_copies
    from hht_archival.errors import ArchivalError

    config = None
    try:
        [config] = configs_for(sponsor, environment, None)
        report = compare_copies(config, config.environment, since)
    except ArchivalError as exc:  # worded by the layer that failed (no second copy: blocks/second_copy)
        fail_on(exc, config)
    first, second = report.names
    period = f" since {since}" if since else ""
    for problem in report.problems:
        click.echo(f"❌ {problem}")
    cold = (
        f"; {report.cold} in cold storage compared by recorded SHA-256 and size only" if report.cold else ""
    )
    click.echo(
        f"{report.compared} backup(s) compared{period} between copy {first} (s3://{config.backups_bucket}) "
        f"and copy {second} for {config.sponsor} ({config.environment}): {report.identical} identical{cold}."
    )
    if report.problems:
        fail(
            f"{len(report.problems)} backup(s) of {config.sponsor} differ between the copies or are "
            "missing at one; the copy named above is the one to repair (copy the good one over it, or "
            "let the next archive write both).",
            None,
            EXIT_FAILED,
        )
