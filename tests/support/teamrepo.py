"""A team's git remote for deployment tests: this working tree as one commit in a bare repository.

Why: deployments pull the deployed commit from the team's remote on whichever
worker runs them, so a test must deploy from one clone, remove it, and run in
others at other paths. The commit is made from the working tree as it is
(tracked and untracked files, ignored ones left out), so the tests run the code
under test, committed or not.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

_IDENTITY = ["-c", "user.name=hht-tests", "-c", "user.email=tests@hht.invalid"]


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *_IDENTITY, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}")
    return done.stdout.strip()


def make_team_remote(source: Path, where: Path, extra_files: dict[str, str]) -> str:
    """A bare repository at ``where``/team.git holding ``source``'s working tree plus ``extra_files``."""
    snapshot = where / "snapshot"
    snapshot.mkdir(parents=True)
    files = git("ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=source).split("\0")
    for name in filter(None, files):
        origin = source / name
        if origin.is_file():
            target = snapshot / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target)
    for name, text in extra_files.items():
        (snapshot / name).write_text(text)
    git("init", "-q", "-b", "main", cwd=snapshot)
    git("add", "-A", cwd=snapshot)
    git("commit", "-q", "-m", "the code under test", cwd=snapshot)
    bare = where / "team.git"
    git("clone", "-q", "--bare", str(snapshot), str(bare), cwd=where)
    shutil.rmtree(snapshot)
    return f"file://{bare}"


def clone(remote: str, path: Path) -> Path:
    git("clone", "-q", remote, str(path), cwd=path.parent)
    return path
