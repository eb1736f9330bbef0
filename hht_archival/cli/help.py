"""What ``--help`` looks like: text wrapped without broken words, and every command's exit statuses.

Why a formatter of our own: click wraps with Python's textwrap, which breaks
words at hyphens and splits long ones, so "hht-archival", "archive-sponsor/
pre-deploy" or a URL came out cut in two, and a copied example no longer ran.
Here each paragraph is wrapped with hyphens and long words kept whole, then
handed to click as a block it leaves as it is (click's ``\\b`` marker). A
word longer than the line stays on a line of its own. A docstring's
``Example:`` paragraph is shown one example a line, never wrapped: it is
what a person copies.

Why the exit statuses live here: a CI step or a supervisor acts on them, so
each command's ``--help`` ends with what its own 0, 1 and 2 mean (and 130/143
where a signal stops the work); docs/operating.md repeats this table and
tests/test_docs.py holds the two together.
"""

from __future__ import annotations

import textwrap

import click
from click.formatting import measure_table

RAW = "\b"

_BAD_INPUT = ("2", "bad input (an unknown option, a bad name or setting): one sentence, nothing was done")
_UNEXPECTED = ("1", "it failed: one sentence saying what and what to do")
_STOPPED = (
    ("130", "stopped by Ctrl-C (SIGINT): pg_dump ended, any upload aborted, the local log written"),
    ("143", "stopped by SIGTERM, the same way"),
)

EXIT_STATUS: dict[str, tuple[tuple[str, str], ...]] = {
    "": (
        ("0", "done; for checks, nothing needs fixing"),
        _UNEXPECTED,
        _BAD_INPUT,
        ("130/143", "stopped by Ctrl-C or SIGTERM (run, worker)"),
    ),
    "run": (
        ("0", "archived; or the flag is off, so the banner and a local log only"),
        ("1", "the archive failed (with --manifest: any sponsor's); the local log says why"),
        (
            "2",
            "bad input (a flag value, a name, a setting not bound to the sponsor, a missing bucket): "
            "nothing was archived, the local log says why",
        ),
        *_STOPPED,
    ),
    "demo": (
        ("0", "archived, and the downloaded copy matches the log's SHA-256"),
        ("1", "the demo failed, or the copy does not match"),
        ("2", "bad input (a password in --database-url): nothing was done"),
    ),
    "doctor": (
        ("0", "no ❌ (⚠️ rows are advice)"),
        ("1", "at least one ❌, each with the command that fixes it"),
        ("2", "bad input (a name, a manifest, a likely misspelt sponsor): nothing was checked"),
    ),
    "provision": (
        ("0", "changed, nothing to change, or --dry-run"),
        ("1", "a change failed, or Object Lock was not confirmed"),
        _BAD_INPUT,
    ),
    "iam-policy": (("0", "the policy was printed"), _UNEXPECTED, _BAD_INPUT),
    "list": (("0", "listed (also when nothing is archived yet)"), ("1", "S3 refused or failed"), _BAD_INPUT),
    "restore": (
        ("0", "restored; the SHA-256 was verified before anything was loaded"),
        ("1", "nothing was restored, or the restore failed and was rolled back; one sentence says why"),
        ("2", "bad usage (no --target-url, a password in --target-url): nothing was done"),
    ),
    "verify": (
        ("0", "the drill passed; with --logs, every link that could be read holds"),
        ("1", "the drill failed or could not run; with --logs, the chain is broken"),
        _BAD_INPUT,
    ),
    "evidence": (
        ("0", "the report was written and stored in the audit bucket, whatever it found"),
        ("1", "S3 refused or failed, or the report could not be written or stored; one sentence says which"),
        _BAD_INPUT,
    ),
    "pre-deploy": (
        ("0", "the backup run completed (archived, or skipped with the flag off)"),
        ("1", "it failed, or had not ended by --timeout (the run goes on)"),
        ("2", "bad input (no Prefect server, a name): nothing was started"),
    ),
    "worker": (
        ("0", "the worker ended"),
        ("2", "no Prefect server is configured (PREFECT_API_URL)"),
        ("130", "stopped by Ctrl-C (SIGINT), after its runs were stopped"),
        ("143", "stopped by SIGTERM, the same way"),
    ),
    "server": (
        ("0", "the server was stopped (Ctrl-C) after it ran"),
        ("1", "its PostgreSQL database could not be reached or created: nothing was started"),
        ("2", "ARCHIVAL_PREFECT_DATABASE_URL is not usable: nothing was started"),
    ),
    "status": (
        ("0", "nothing needs attention"),
        (
            "1",
            "something needs attention (an open incident, a missed expectation, an unreadable archive), "
            "or the Prefect server failed",
        ),
        _BAD_INPUT,
    ),
    "alerts": (("0", "done"), ("1", "the Prefect server failed"), _BAD_INPUT),
    "alerts install": (
        ("0", "installed, or already up to date"),
        ("1", "the Prefect server failed"),
        ("2", "bad input (no Prefect server, no such block, a name): nothing was installed"),
    ),
    "alerts remove": (
        ("0", "removed (also when there was nothing)"),
        ("1", "the Prefect server failed"),
        ("2", "no Prefect server is configured"),
    ),
}


def exit_status(command_path: str) -> tuple[tuple[str, str], ...]:
    """The exit statuses of ``hht-archival <command>``; the general table for the group itself."""
    name = command_path.partition(" ")[2]
    return EXIT_STATUS.get(name, EXIT_STATUS[""])


def _unbroken(text: str, width: int) -> str:
    """``text`` wrapped to ``width`` without breaking a word, each paragraph marked for click to keep."""
    paragraphs, out = text.split("\n\n"), []
    for paragraph in paragraphs:
        lines = paragraph.splitlines()
        if not lines or lines[0].strip() == RAW:
            out.append(paragraph)
            continue
        head, _, first = lines[0].strip().partition(" ")
        if head in ("Example:", "Examples:"):  # one example a line, whole, to copy as it is
            examples = [first.strip(), *(line.strip() for line in lines[1:])]
            out.append("\n".join([RAW, head, *("  " + example for example in examples if example)]))
            continue
        indent = len(lines[0]) - len(lines[0].lstrip())
        wrapped = textwrap.wrap(
            " ".join(line.strip() for line in lines),
            max(width - indent, 20),
            break_on_hyphens=False,
            break_long_words=False,
        )
        out.append("\n".join([RAW, *(" " * indent + line for line in wrapped)]))
    return "\n\n".join(out)


class HelpFormatter(click.HelpFormatter):
    """click's formatter, except that no word is broken (see the module docstring)."""

    def write_text(self, text: str) -> None:
        super().write_text(_unbroken(text, self.width - self.current_indent))

    def write_dl(self, rows, col_max: int = 30, col_spacing: int = 2) -> None:
        rows = list(rows)
        first = min(measure_table(rows)[0], col_max) + col_spacing
        width = max(self.width - first - 2, 10)
        super().write_dl([(term, _unbroken(text, width)) for term, text in rows], col_max, col_spacing)


class Context(click.Context):
    formatter_class = HelpFormatter


def write_exit_status(ctx: click.Context, formatter: click.HelpFormatter) -> None:
    """The 'Exit status' section every command's and group's --help ends with."""
    with formatter.section("Exit status"):
        formatter.write_dl(exit_status(ctx.command_path), col_max=8)


class Command(click.Command):
    """Every hht-archival command: the formatter above, and its exit statuses after its options."""

    context_class = Context

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        write_exit_status(ctx, formatter)
