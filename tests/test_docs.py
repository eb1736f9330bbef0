"""The docs and the help a user reads, checked against what the commands do.

- Every relative link and anchor in README.md and docs/ resolves (GitHub's anchor rules).
- Every fenced ``bash`` block right after a ``<!-- runnable -->`` line is run as a user would paste
  it, with bash -e, in a fresh directory, against the test stack: S3 on loopback (moto through the
  fault proxy, the fixtures' keys), a seeded PostgreSQL, callisto's and titan's buckets as
  ``provision`` makes them, no Prefect server and no real AWS; it must exit 0. Only blocks that make
  sense offline are marked (no Doppler, no ``aws iam``, no Prefect server).
- docs/operating.md's exit-status table says what each command's ``--help`` says; every ``--help``
  is wrapped without a broken word, shows each example whole, and ends with its exit statuses.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from hht_archival.cli import main
from hht_archival.cli.help import EXIT_STATUS, exit_status
from hht_archival.provision import plan_bucket
from tests.conftest import run_cli
from tests.support.pgcluster import create_database, drop_database, seed_diary_database
from tests.support.s3server import s3_client

ROOT = Path(__file__).parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
RUNNABLE = "<!-- runnable -->"
FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _prose(path: Path) -> list[tuple[int, str]]:
    """The lines of ``path`` outside fenced blocks, with inline code removed, numbered from 1."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, re.sub(r"`[^`]*`", "", line)))
    return lines


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of ``path``: lowercase, punctuation dropped, spaces as hyphens."""
    found: set[str] = set()
    for _, line in _prose(path):
        heading = re.match(r"#{1,6}\s+(.*)", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            found.add(slug if slug not in found else f"{slug}-1")
    return found


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(path):
    broken = []
    for number, line in _prose(path):
        for target in LINK.findall(line):
            if re.match(r"[a-z]+:", target):  # http(s), mailto: not ours to check offline
                continue
            file, _, anchor = target.partition("#")
            resolved = (path.parent / file).resolve() if file else path
            if not resolved.exists():
                broken.append(f"line {number}: {target} (no {resolved.relative_to(ROOT)})")
            elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
                broken.append(f"line {number}: {target} (no heading #{anchor})")
    assert broken == [], f"{path.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_setup_banner_names_a_page_that_exists():
    from hht_archival.banner import disabled_banner

    banner = disabled_banner("titan", "production", "eu-west-1", "b", "a")
    [page] = re.findall(r"See: (\S+)", banner)
    assert (ROOT / page).is_file()


def test_the_banner_names_the_flag_variable_this_sponsor_reads():
    from blocks.config import resolve_config
    from hht_archival.banner import banner_for

    assert "titan (production): nothing sets ENABLE_S3_BACKUP_ARCHIVAL," in banner_for(
        resolve_config(sponsor="titan"),
        "default",  # the home sponsor (SPONSOR): the seed's name
    )
    assert "europa (production): nothing sets EUROPA_ENABLE_S3_BACKUP_ARCHIVAL," in banner_for(
        resolve_config(sponsor="europa"), "default"
    )


def _runnable_blocks() -> list:
    blocks = []
    for path in DOCS:
        lines = path.read_text().splitlines()
        for index, line in enumerate(lines):
            if line.strip() != RUNNABLE:
                continue
            assert lines[index + 1].startswith("```bash"), (
                f"{path.name}:{index + 1}: {RUNNABLE} before no bash block"
            )
            end = next(i for i in range(index + 2, len(lines)) if FENCE.match(lines[i]))
            name = f"{path.relative_to(ROOT)}:{index + 3}"
            blocks.append(pytest.param("\n".join(lines[index + 2 : end]), id=name))
    return blocks


@pytest.fixture(scope="module")
def stack(moto_server, s3_proxy, pg_admin_url, tmp_path_factory):
    """callisto (the home sponsor) and titan, ready as a user would have them after provision."""
    moto_server.reset()
    s3_proxy.clear()
    client = s3_client(moto_server.endpoint)
    for sponsor in ("callisto", "titan"):
        for kind in ("backups", "audit-logs"):
            for change in plan_bucket(client, f"hht-diary-{kind}-{sponsor}-eu-west-1", "eu-west-1"):
                change.apply()
    name = f"hht_docs_{uuid.uuid4().hex[:10]}"
    url = create_database(pg_admin_url, name)
    seed_diary_database(url)
    home = tmp_path_factory.mktemp("home")  # a user's HOME: the embedded Prefect API keeps its database here
    bin_dir = tmp_path_factory.mktemp("clone") / "bin"
    bin_dir.mkdir()
    command = bin_dir / "hht-archival"  # bin/hht-archival without its set-up: .venv is already there
    command.write_text(f'#!/bin/sh\nexec "{Path(sys.executable).with_name("hht-archival")}" "$@"\n')
    command.chmod(0o755)
    yield {
        "SPONSOR": "callisto",
        "DATABASE_URL": url,
        "TITAN_DATABASE_URL": url,
        "TITAN_AWS_ACCESS_KEY_ID": "testing",
        "TITAN_AWS_SECRET_ACCESS_KEY": "testing",
        "HOME": str(home),
        # The embedded API's database where the other tests keep it, already migrated: a fresh one is
        # tests/test_startup.py's subject, and migrating it again here costs a quarter of a minute.
        "PREFECT_HOME": os.environ.get("PREFECT_HOME") or str(Path.home() / ".prefect"),
        "CLONE": str(bin_dir.parent),
    }
    drop_database(pg_admin_url, name)


@pytest.mark.parametrize("script", _runnable_blocks())
def test_a_runnable_block_runs(script, stack, tmp_path):
    clone = Path(stack["CLONE"])
    for entry in clone.iterdir():  # each block starts in a directory of its own, bin/ beside it
        (tmp_path / entry.name).symlink_to(entry)
    env = {**os.environ, **{k: v for k, v in stack.items() if k != "CLONE"}}
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, f"{script}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"


def test_the_exit_statuses_in_the_docs_are_the_ones_help_shows():
    operating = (ROOT / "docs" / "operating.md").read_text()
    for name, codes in EXIT_STATUS.items():
        if name:
            row = f"| `{name}` | " + "; ".join(f"**{code}** {meaning}" for code, meaning in codes) + " |"
            assert row in operating, row


def _commands(group=main, path=()):
    for name, command in sorted(group.commands.items()):
        yield (*path, name), command
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))


def _examples(docstring: str) -> list[str]:
    """The examples of a command's docstring: its Example(s) paragraph, one a line."""
    for paragraph in inspect.cleandoc(docstring).split("\n\n"):
        lines = paragraph.strip().splitlines()
        head, _, first = lines[0].partition(" ")
        if head in ("Example:", "Examples:"):
            return [line.strip() for line in [first, *lines[1:]] if line.strip()]
    return []


@pytest.mark.parametrize("width", [50, 100])
def test_every_help_keeps_its_words_and_examples_whole_and_ends_with_its_exit_statuses(width):
    runner = CliRunner()
    for path, command in [((), main), *_commands()]:
        shown = runner.invoke(main, [*path, "--help"], terminal_width=width, prog_name="hht-archival")
        where = f"hht-archival {' '.join(path)} --help at {width} columns"
        assert shown.exit_code == 0, where
        assert not re.search(r"\w-\n", shown.output), f"{where} breaks a word:\n{shown.output}"
        for example in _examples(command.help or ""):
            assert f"    {example}\n" in shown.output, f"{where}: {example!r} is not shown whole"
        statuses = shown.output.split("Exit status:\n", 1)[1]
        for code, _ in exit_status(f"hht-archival {' '.join(path)}".strip()):
            assert re.search(rf"^  {re.escape(code)} ", statuses, re.M), f"{where}: no exit status {code}"


def test_verify_and_pre_deploy_read_deployment_environment_as_every_command_does(stack):
    env = {k: v for k, v in stack.items() if k != "CLONE"}
    staging = run_cli(
        "verify", "--logs", "--sponsor", "titan", env={**env, "DEPLOYMENT_ENVIRONMENT": "staging"}
    )
    assert staging.returncode == 0, staging.stderr
    assert "deployments/ (titan, staging)" in staging.stdout
    env["DEPLOYMENT_ENVIRONMENT"] = "prod"
    wrong = run_cli("pre-deploy", "--sponsor", "titan", env=env)
    assert (wrong.returncode, wrong.stderr) == (
        2,
        "❌ DEPLOYMENT_ENVIRONMENT='prod' for sponsor titan is not one of production, staging, dev; set it "
        "to one of those.\n",
    )
