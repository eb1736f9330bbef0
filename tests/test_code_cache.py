"""The pull step keeps one clone per deployed commit on a worker, and never runs a changed one.

A worker's runs of one commit share its clone (deployments/pull.py); what a
platform engineer would check: the second run does not clone again, a clone
someone edited is replaced, a branch is never kept, old commits go away.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from deployments.pull import UNUSED_FOR_SECONDS, clone_deployed_code
from tests.support.teamrepo import git


@pytest.fixture
def remote(tmp_path):
    """A small repository standing for the team's remote: one module, committed twice."""
    source = tmp_path / "remote"
    (source / "flows").mkdir(parents=True)
    (source / ".gitignore").write_text("__pycache__/\n")
    (source / "flows" / "night.py").write_text("WHICH = 'first'\n")
    git("init", "-q", "-b", "main", cwd=source)
    git("add", "-A", cwd=source)
    git("commit", "-q", "-m", "first", cwd=source)
    first = git("rev-parse", "HEAD", cwd=source)
    (source / "flows" / "night.py").write_text("WHICH = 'second'\n")
    git("commit", "-q", "-am", "second", cwd=source)
    return {
        "url": f"file://{source}",
        "path": source,
        "first": first,
        "second": git("rev-parse", "HEAD", cwd=source),
    }


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHIVAL_CODE_CACHE", str(tmp_path / "cache"))
    run_dir = tmp_path / "run"  # Prefect's temporary directory for the run
    run_dir.mkdir()
    monkeypatch.chdir(run_dir)
    monkeypatch.setattr(sys, "path", list(sys.path))
    return tmp_path / "cache"


def _pull(remote, commit: str) -> Path:
    return Path(clone_deployed_code(remote["url"], commit)["directory"])


def test_runs_of_one_commit_share_one_compiled_clone_and_need_no_remote_after_the_first(remote, cache):
    first = _pull(remote, remote["first"])
    assert first.is_relative_to(cache)
    assert (first / "flows" / "night.py").read_text() == "WHICH = 'first'\n"
    assert list((first / "flows" / "__pycache__").glob("night.*.pyc"))  # compiled once, for every run
    assert sys.path[0] == str(first)
    remote["path"].rename(remote["path"].with_name("gone"))  # the remote is down for the next runs
    assert _pull(remote, remote["first"]) == first
    assert not list(Path.cwd().iterdir())  # nothing was cloned into the run's own directory


def test_each_commit_runs_its_own_code(remote, cache):
    first, second = _pull(remote, remote["first"]), _pull(remote, remote["second"])
    assert first != second
    assert (second / "flows" / "night.py").read_text() == "WHICH = 'second'\n"
    assert (first / "flows" / "night.py").read_text() == "WHICH = 'first'\n"


@pytest.mark.parametrize("change", ["edited", "added"])
def test_a_kept_clone_someone_changed_is_cloned_again_before_it_runs(remote, cache, change):
    kept = _pull(remote, remote["first"])
    if change == "edited":
        (kept / "flows" / "night.py").write_text("WHICH = 'tampered'\n")
    else:
        (kept / "flows" / "boto3.py").write_text("raise SystemExit\n")  # would shadow a library
    again = _pull(remote, remote["first"])
    assert (again / "flows" / "night.py").read_text() == "WHICH = 'first'\n"
    assert not (again / "flows" / "boto3.py").exists()


def test_no_commit_named_is_the_default_branch_cloned_afresh_into_the_run_not_kept(remote, cache):
    directory = _pull(remote, "")  # the remote's default branch: it moves
    assert directory.is_relative_to(Path.cwd())
    assert (directory / "flows" / "night.py").read_text() == "WHICH = 'second'\n"
    assert not cache.exists() or not any(cache.rglob("night.py"))


def test_clones_no_run_used_for_a_week_are_removed_when_another_commit_is_kept(remote, cache):
    old = _pull(remote, remote["first"])
    week_ago = time.time() - UNUSED_FOR_SECONDS - 60
    os.utime(old, (week_ago, week_ago))
    new = _pull(remote, remote["second"])
    assert new.is_dir() and not old.exists()
