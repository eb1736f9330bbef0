"""The seed's step outputs, however a run started: the log, the INFO line, backup_location, backup_size.

Why one module: the single run, the manifest run and `pre-deploy` all end
the way the seed's step did (the log printed, the INFO line when archival is
off, the outputs appended to $GITHUB_OUTPUT for the next GitHub Actions
step), and a CI job reads them the same way whichever it called; and a run
whose Prefect API is gone ends the same way too (``leave_if_prefect_api_lost``).
"""

from __future__ import annotations

import json
import os
import sys

import click

from hht_archival.banner import LOG_LOCAL_ONLY
from hht_archival.cli import EXIT_FAILED


def print_log(record: dict, title: str = "Deployment log:") -> None:
    shown = {k: v for k, v in record.items() if k != "local_log"}
    click.echo(title)
    click.echo(json.dumps(shown, indent=2, ensure_ascii=False))


def emit_outputs(record: dict, suffix: str = "") -> None:
    """Print the seed's step outputs and append them to $GITHUB_OUTPUT when it is set.

    ``suffix`` tells several sponsors' outputs apart in one step (``backup_location_titan_production``).
    """
    lines = [
        f"backup_location{suffix}={record.get('backup_location') or 'not-configured'}",
        f"backup_size{suffix}={record.get('backup_size') or 0}",
    ]
    for line in lines:
        click.echo(line)
    target = os.environ.get("GITHUB_OUTPUT")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write("".join(f"{line}\n" for line in lines))


def print_run_end(record: dict) -> None:
    """How the seed's step ended: the log, the INFO line when archival is off, the outputs."""
    print_log(record)
    if not record.get("s3_archival_enabled"):
        click.echo(LOG_LOCAL_ONLY)
    second = record.get("second_copy")
    if second and second.get("status") == "archived":
        click.echo(f"Second copy {second['where']}: {second['backup_location']}")
    if record.get("degraded"):
        click.echo(f"⚠️  Archived, degraded: {record['degraded']}")
    emit_outputs(record)
    if record.get("local_log"):
        click.echo(f"Local log: {record['local_log']}")


def print_sponsor_runs(rows: list[dict]) -> None:
    """A manifest run's end: each sponsor's log and outputs (named after it), then the summary."""
    for row in rows:
        record = row.get("log") or {}
        who = f"{row['sponsor']} ({row['environment']})"
        if record:
            print_log(record, f"\nDeployment log of {who}:")
        if record and not record.get("s3_archival_enabled"):
            click.echo(f"{LOG_LOCAL_ONLY} ({who})")
        emit_outputs(
            {"backup_location": row["location"], "backup_size": row["size"]},
            f"_{row['sponsor']}_{row['environment']}",
        )
    click.echo("\nSponsor runs:")
    for row in rows:
        where = row["reason"] or row["location"]
        who = f"{row['sponsor']} ({row['environment']})"
        click.echo(f"  {row['status']:9s} {who}: {where}  [log: {row['local_log']}]")


def leave_if_prefect_api_lost(exc: BaseException, whose: str, log_dir) -> None:
    """If ``exc`` is the Prefect API gone, print the one sentence and exit 1 at once.

    Each run's outcome is in its local log by then; Prefect's own exit would
    retry sending every pending event and log line to the dead API for minutes.
    """
    from blocks.defaults import local_log_dir
    from hht_archival.errors import prefect_api_lost

    sentence = prefect_api_lost(exc, whose, local_log_dir(log_dir))
    if sentence:
        click.echo(f"\n❌ {sentence}", err=True)  # after whatever Prefect printed unterminated
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_FAILED)
