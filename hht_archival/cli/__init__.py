"""The ``hht-archival`` command: a thin layer over the flows, with one sentence for every failure.

Exit status: 0 archived or skipped (or all checks passed), 1 the work failed, 2 bad input
(nothing done), 130/143 stopped by SIGINT/SIGTERM; each command's ``--help`` says what its own
mean (help.py, which also wraps help text without breaking words). The commands live in one
module per job: ``running`` (run, demo; run's work is in
``one_sponsor`` and ``all_sponsors``), ``server`` (pre-deploy, worker), ``readiness`` (doctor,
provision, iam-policy), ``archive`` (list, restore, verify), ``evidence`` (the inspector's
report) and ``alerts`` (alerts install/remove, status); ``outputs`` ends a run as the seed's step did.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import TYPE_CHECKING, NoReturn

import click

from hht_archival import import_gc
from hht_archival.cli import help as helptext
from hht_archival.cli import quick_exit

if TYPE_CHECKING:
    from hht_archival.errors import ArchivalError

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


DEBUG_VARIABLE = "HHT_ARCHIVAL_DEBUG"


class ArchivalGroup(click.Group):
    """A group of hht-archival commands: help without broken words, each command's exit statuses."""

    context_class = helptext.Context
    command_class = helptext.Command

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        helptext.write_exit_status(ctx, formatter)


ArchivalGroup.group_class = ArchivalGroup  # `alerts` and its commands are formatted the same way


class OneSentenceGroup(ArchivalGroup):
    """The last resort of "never a bare traceback": an error no layer worded still ends in one sentence.

    Every failure a user can cause is worded where it happens; this catches
    only what nobody foresaw (a bug, a library's surprise), says so, and keeps
    the traceback for whoever reports it (``--debug`` or HHT_ARCHIVAL_DEBUG=1).
    """

    def main(self, args=None, *rest, **options):
        """The entry; as the installed command (no ``args``) it starts and leaves quickly.

        Quickly: import_gc.py (its imports) and quick_exit.py (its end).
        """
        if args is not None:  # called from Python (tests' CliRunner): the caller's process, not ours to end
            return super().main(args, *rest, **options)
        quick_exit.arm()
        import_gc.hold_back()  # until the first flow (engine.start_prefect_api), a worker's start, or the end
        try:
            return super().main(args, *rest, **options)
        except SystemExit as exc:
            quick_exit.exiting_with(exc.code)
            raise

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            if os.environ.get(DEBUG_VARIABLE) or "--debug" in sys.argv[1:]:
                traceback.print_exc()
            command = ctx.invoked_subcommand or "the command"
            from hht_archival.stopping import requested

            if requested() is not None:  # interrupted, and the interrupted library said so its own way
                fail(f"hht-archival {command} was {requested()}.", None, requested().exit_code)
            fail(
                f"Unexpected {type(exc).__name__} in hht-archival {command}: {exc}. Run it again with "
                f"{DEBUG_VARIABLE}=1 to see the traceback, and report it.",
                None,
                EXIT_FAILED,
            )


@click.group(
    cls=OneSentenceGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="hht-archival")
def main() -> None:
    """Archive PostgreSQL backups and deployment logs to S3 with 7-year retention.

    Example: hht-archival run --sponsor callisto --environment production
    """


def fail(sentence: str, log_path, code: int) -> None:
    """Print the one sentence (and where the local log is), then exit with ``code``."""
    click.echo(f"❌ {sentence}", err=True)
    if log_path:
        click.echo(f"Local log (status: failed): {log_path}", err=True)
    sys.exit(code)


def fail_on(exc: ArchivalError, config=None, code: int | None = None) -> NoReturn:
    """End a command on a library error: its sentence as the layers below worded it, plus the remedy.

    The adapters say what failed and for which sponsor; the next thing to type
    is known only here. A sentence that already names a command keeps it; a
    refusal S3 answered with and no command named gets doctor, which checks the
    credentials, both buckets and the role's rights one by one. Bad input
    exits 2 unless ``code`` says otherwise.
    """
    from hht_archival.adapters.s3_errors import refusal
    from hht_archival.errors import ConfigError

    sentence = str(exc)
    if config is not None and not exc.retryable and refusal(exc) and "hht-archival " not in sentence:
        sentence += (
            f" Find what is missing with: hht-archival doctor --sponsor {config.sponsor} "
            f"--environment {config.environment}"
        )
    fail(sentence, None, code or (EXIT_BAD_INPUT if isinstance(exc, ConfigError) else EXIT_FAILED))


def refuse_password_in_argv(option: str, url: str, envvar: str) -> None:
    """A password typed as an option is visible to every user of the machine (ps, /proc): refuse it."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        has_password = "password" in conninfo_to_dict(url)
    except Exception:
        return
    if has_password and any(url in arg for arg in sys.argv):
        fail(
            f"{option} carries a password, which other users can see in the process list; put the URL in "
            f"{envvar} (or the password in ~/.pgpass) instead.",
            None,
            EXIT_BAD_INPUT,
        )


def configs_for(sponsor, environment, manifest):
    """Resolved configurations for one sponsor, or for each (sponsor, environment) of a manifest."""
    from blocks.config import resolve_config
    from blocks.manifest import resolve_manifest

    if manifest is None:
        return [resolve_config(sponsor=sponsor, environment=environment)]
    return resolve_manifest(manifest, environment)


from hht_archival.cli import (  # noqa: E402,F401  (registers the commands)
    alerts,
    archive,
    evidence,
    readiness,
    running,
    server,
)
