"""s3rver (npm), a second S3 implementation, on a free loopback port, installed once from a lock file.

Why a second server: S3-compatible stores differ, and moto is only one reading
of the API. s3rver stores an object uploaded with an ``x-amz-tagging`` header
without its tags, returns no checksums and has no versioning or Object Lock,
so it shows what our read-back after a write is for.

It is installed with ``npm ci`` into ``tests/support/node/`` from the committed
``package.json`` and ``package-lock.json`` (s3rver pinned), once per change of
the lock file (a stamp in ``node_modules`` records which one), under a file
lock so parallel test workers install it only once. Where node or npm is
missing, ``missing_tools()`` says what to install and the tests skip.
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from tests.support.processes import stop

NODE_DIR = Path(__file__).parent / "node"
ACCESS_KEY = SECRET_KEY = "S3RVER"  # s3rver's built-in account: a test key, not a secret
_LISTENING = re.compile(r"S3rver listening on [\d.]+:(\d+)")


def missing_tools() -> str | None:
    """One sentence when node or npm is missing, else None."""
    absent = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if absent:
        return (
            f"{' and '.join(absent)} not found: install Node.js 18+ with npm (apt-get install nodejs npm) "
            "to run the tests against s3rver, the second S3 implementation."
        )
    return None


def ensure_installed() -> Path:
    """s3rver's command-line script, after ``npm ci`` if the lock file changed since the last install."""
    lock = NODE_DIR / "package-lock.json"
    stamp = NODE_DIR / "node_modules" / f".hht-installed-{hashlib.sha256(lock.read_bytes()).hexdigest()[:16]}"
    script = NODE_DIR / "node_modules" / "s3rver" / "bin" / "s3rver.js"
    with (NODE_DIR / ".install.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)  # parallel workers: one installs, the others wait for it
        if not stamp.exists():
            done = subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=NODE_DIR,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"npm ci in {NODE_DIR} failed: {done.stderr.strip()[-2000:]}")
            stamp.touch()
    return script


class S3rver:
    """s3rver on 127.0.0.1:<free port>, with its data in a temporary directory, for a ``with`` block."""

    def __init__(self) -> None:
        self.endpoint = ""
        self._process: subprocess.Popen | None = None
        self._data: tempfile.TemporaryDirectory | None = None

    def __enter__(self) -> S3rver:
        script = ensure_installed()
        self._data = tempfile.TemporaryDirectory(prefix="hht-s3rver-")
        self._process = subprocess.Popen(
            ["node", str(script), "-d", self._data.name, "-a", "127.0.0.1", "-p", "0", "--silent"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        port = self._wait_for_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        return self

    def _wait_for_port(self, timeout: float = 30) -> int:
        found: list[int] = []
        seen: list[str] = []

        def read() -> None:
            for line in self._process.stdout:  # keep draining, so the pipe never fills
                seen.append(line)
                match = _LISTENING.search(line)
                if match and not found:
                    found.append(int(match[1]))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        deadline = threading.Event()
        for _ in range(int(timeout * 20)):
            if found or self._process.poll() is not None:
                break
            deadline.wait(0.05)
        if not found:
            self.__exit__(None, None, None)
            raise RuntimeError(f"s3rver did not start: {''.join(seen)[-2000:]}")
        return found[0]

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None:
            stop(self._process)
            self._process = None
        if self._data is not None:
            self._data.cleanup()
            self._data = None
