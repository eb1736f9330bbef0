"""The pull step of every deployment: the deployed commit's code, from a clone a worker keeps per commit.

Why our own step rather than Prefect's ``git_clone`` alone: a private remote
needs a token from a Secret block, and Prefect's step fails to deploy when its
template names a block that does not exist; here the block is optional (its
name is empty for a public or file remote). And the code that runs must be the
deployed commit's, not the worker's own clone's: so this module imports none of
hht-archival's packages (the worker process imports it before the clone
exists), and it puts the clone first on ``sys.path`` so the flow's imports come
from the clone.

Why a clone per commit, kept: a nightly of many sponsors is many runs of one
commit on each worker; cloning it and compiling its modules in every run cost
each sponsor about 0.6 s (benchmarks/orchestration_overhead.py). A commit's
content never changes, so the first run on a worker clones it into
``ARCHIVAL_CODE_CACHE`` (default ``~/.cache/hht-archival/code``; ``off`` keeps
none), compiles it, and moves it into place in one rename; later runs check
that it is still that commit, unmodified (``git status``), and use it. Runs
share it read-only: they write their logs elsewhere (``hht-archival worker``
makes ARCHIVAL_LOG_DIR absolute). A deployment that names no commit (the
remote's default branch, which moves) is cloned afresh into each run, as
before. Clones no run used for a week are removed.
"""

from __future__ import annotations

import compileall
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE_VARIABLE = "ARCHIVAL_CODE_CACHE"
UNUSED_FOR_SECONDS = 7 * 24 * 3600  # a clone no run used for this long is removed
_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")


def clone_deployed_code(repository: str, commit_sha: str, credentials_block: str = "") -> dict[str, str]:
    """Give this run ``repository`` at ``commit_sha`` (a kept clone when there is one); a non-empty
    ``credentials_block`` names a Secret with a token.

    Example (prefect.yaml, filled in at `prefect deploy` time):
        pull:
          - deployments.pull.clone_deployed_code:
              repository: "{{ code-repository.stdout }}"
              commit_sha: "{{ code-commit.stdout }}"
              credentials_block: "{{ git-credentials.stdout }}"
    """
    commit = (commit_sha or "").strip().lower()
    if _FULL_SHA.match(commit) and os.environ.get(CACHE_VARIABLE, "").lower() != "off":
        directory = _kept_clone(repository, commit, credentials_block)
    else:  # no commit: the remote's default branch, which moves, so nothing is kept
        directory = _clone(repository, commit_sha or None, credentials_block, Path.cwd())
    sys.path.insert(0, str(directory))
    return {"directory": str(directory)}


def cache_root() -> Path:
    configured = os.environ.get(CACHE_VARIABLE)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hht-archival" / "code"


def _kept_clone(repository: str, commit: str, credentials_block: str) -> Path:
    root = cache_root() / hashlib.sha256(repository.encode()).hexdigest()[:16]
    kept = root / commit
    if kept.is_dir():
        if _is_pristine(kept, commit):
            os.utime(kept)  # used: kept another week
            return kept
        shutil.rmtree(kept, ignore_errors=True)  # changed by someone: never run it
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging = Path(tempfile.mkdtemp(prefix=f".{commit[:12]}-", dir=root))
    try:
        cloned = _clone(repository, commit, credentials_block, staging)
        compileall.compile_dir(cloned, quiet=1, ddir=str(kept))  # tracebacks name the kept path
        try:
            os.rename(cloned, kept)  # whole or not at all; a run that got there first wins
        except OSError:
            if not _is_pristine(kept, commit):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _remove_unused(root, keep=kept)
    return kept


def _clone(repository: str, commit: str | None, credentials_block: str, into: Path) -> Path:
    """Prefect's ``git_clone`` (its token handling included) into the directory ``into``."""
    from prefect.deployments.steps import git_clone

    token = None
    if credentials_block.strip():
        from prefect.blocks.system import Secret

        token = Secret.load(credentials_block.strip()).get()
    here = Path.cwd()
    os.chdir(into)  # git_clone clones into the working directory; Prefect changes it after this step
    try:
        cloned = git_clone(repository=repository, commit_sha=commit, access_token=token)
    finally:
        os.chdir(here)
    return (into / cloned["directory"]).resolve()


def _is_pristine(directory: Path, commit: str) -> bool:
    """At ``commit``, with no file changed or added but its compiled modules."""
    try:
        head = _git(directory, "rev-parse", "HEAD")
        changes = _git(directory, "status", "--porcelain", "--untracked-files=all")
    except (OSError, subprocess.CalledProcessError):
        return False
    changed = [line for line in changes.splitlines() if "__pycache__/" not in line]
    return head == commit and not changed


def _git(directory: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=directory, capture_output=True, text=True, check=True)  # noqa: S603
    return done.stdout.strip()


def _remove_unused(root: Path, keep: Path) -> None:
    """Clones of other commits no run used for a week; a run still on an old commit keeps it fresh."""
    now = time.time()
    for entry in root.iterdir():
        if entry == keep or not entry.is_dir():
            continue
        try:
            unused = now - entry.stat().st_mtime > UNUSED_FOR_SECONDS
        except OSError:
            continue
        if unused:
            shutil.rmtree(entry, ignore_errors=True)
