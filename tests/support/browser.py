"""Headless Chromium, to see the Prefect UI's forms and artifacts as a person in a browser sees them.

Why a browser at all: the UI draws a deployment's form from the flow's
parameter schema, and an artifact's markdown through its own renderer; what the
API returns is not what a person reads (a schema can be valid and still show
"Property is type None"). Why the DevTools protocol over Prefect's own
``websockets`` rather than Playwright or Selenium: one browser serves every page
of a test, and nothing is added to the lock file.

Chromium is Debian's ``chromium`` package. Where it is missing and this runs as
root with apt, it is installed once; otherwise the caller skips with the reason.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from tests.support.processes import stop

_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_or_install_chromium() -> tuple[str | None, str]:
    """The browser's path, or None with the one sentence a skipped test reports."""
    found = next(filter(None, map(shutil.which, _NAMES)), None)
    if found:
        return found, ""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, "Chromium is not installed and cannot be installed here; run: apt-get install chromium"
    done = subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    found = shutil.which("chromium")
    if found:
        return found, ""
    return None, f"apt-get install chromium failed: {(done.stderr or done.stdout).strip()[-300:]}"


class Browser:
    """One headless Chromium and one tab, driven over the DevTools protocol."""

    def __init__(self, executable: str, width: int = 1440, height: int = 1800) -> None:
        self._profile = tempfile.mkdtemp(prefix="hht-chromium-")
        self._stderr = Path(self._profile) / "stderr.log"
        self._proc = subprocess.Popen(
            [
                executable,
                "--headless=new",
                "--no-sandbox",  # root in a container has no user namespace for the sandbox
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--remote-debugging-port=0",
                f"--user-data-dir={self._profile}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self._stderr, "wb"),  # noqa: SIM115 (a file, never a pipe Chromium could fill)
        )
        self._ids = itertools.count(1)
        self._socket = self._connect(self._devtools_port())

    def _devtools_port(self) -> int:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            said = self._stderr.read_text(errors="replace")
            found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", said)
            if found:
                return int(found.group(1))
            if self._proc.poll() is not None:
                break
            time.sleep(0.1)
        self.close()
        raise RuntimeError(f"Chromium did not start its DevTools endpoint: {said[-500:]}")

    def _connect(self, port: int):
        from websockets.sync.client import connect

        [page] = [t for t in httpx.get(f"http://127.0.0.1:{port}/json/list").json() if t["type"] == "page"]
        return connect(page["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024)

    def _call(self, method: str, **params) -> dict:
        ident = next(self._ids)
        self._socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv(timeout=60))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def text(self, selector: str = "body") -> str:
        """What the page (or its first element matching ``selector``) shows as text, as a person copies it."""
        expression = f"(document.querySelector({json.dumps(selector)}) || {{innerText: ''}}).innerText"
        found = self._call("Runtime.evaluate", expression=expression)
        return found["result"].get("value", "")

    def open(self, url: str, shows: str, timeout: float = 30) -> str:
        """Go to ``url``, wait until its text contains ``shows``; the text then, or what it showed instead."""
        self._call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.text()
            if shows in text:
                time.sleep(0.5)  # the rest of the page settles (fonts, lazy panels) before a screenshot
                return self.text()
            time.sleep(0.25)
        return text

    def screenshot(self, path: Path) -> Path:
        """The whole page, as PNG, for a person to look at (a benchmark's output, never an assertion)."""
        shot = self._call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        sock = getattr(self, "_socket", None)
        if sock is not None:
            sock.close()
        stop(self._proc)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def screenshots_dir(name: str) -> Path:
    """Where a test leaves its screenshots for a person: HHT_SCREENSHOTS, else benchmarks/screenshots
    (not committed). They are the output of a look at the UI, never compared with anything."""
    root = Path(
        os.environ.get("HHT_SCREENSHOTS")
        or Path(__file__).resolve().parents[2] / "benchmarks" / "screenshots"
    )
    return root / name
