"""A webhook receiver on loopback: what a Slack or Teams endpoint would receive, kept for tests to read.

Why: notifications are sent by the Prefect server's automations, over HTTP,
through a notification block; the only honest check is to receive them. Tests
poll ``wait_for`` with a bound instead of sleeping.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    """Context manager: an HTTP server on 127.0.0.1 recording each POST's path and JSON body."""

    def __init__(self) -> None:
        self.received: list[dict] = []  # {"path": ..., "subject": ..., "body": ...}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length).decode("utf-8", "replace")
                try:
                    message = json.loads(raw)
                except ValueError:
                    message = {"raw": raw}
                with receiver._lock:
                    receiver.received.append({"path": self.path, **message})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> WebhookReceiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def messages(self, *words: str) -> list[dict]:
        """The messages whose subject and body contain every one of ``words``."""
        with self._lock:
            seen = list(self.received)
        return [m for m in seen if all(w in f"{m.get('subject')}\n{m.get('body')}" for w in words)]

    def wait_for(self, *words: str, timeout: float = 120, count: int = 1) -> list[dict]:
        """Poll until ``count`` messages contain ``words``; fail with what did arrive after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.messages(*words)
            if len(found) >= count:
                return found
            time.sleep(0.25)
        subjects = [m.get("subject") for m in self.received]
        raise AssertionError(f"no message with {words} within {timeout:g} s; received: {subjects}")


_SAVE_BLOCK = """
import os, sys
from prefect.blocks.notifications import CustomWebhookNotificationBlock
CustomWebhookNotificationBlock(
    name="ops",
    url=sys.argv[1] + "/hook/{{token}}",
    json_data={"subject": "{{subject}}", "body": "{{body}}"},
    secrets={"token": os.environ["HOOK_TOKEN"]},
).save(sys.argv[2], overwrite=True)
"""


def save_webhook_block(server_env: dict[str, str], receiver_url: str, name: str, token: str) -> None:
    """A custom-webhook notification block on a Prefect server, posting to ``receiver_url``; its secret
    part (``token``) only in the block's secrets. Saved by a child process: a Prefect client in the test
    process would stay its process-wide events client for an API other tests do not use."""
    import os
    import subprocess
    import sys

    saved = subprocess.run(
        [sys.executable, "-c", _SAVE_BLOCK, receiver_url, name],
        env={**os.environ, **server_env, "HOOK_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if saved.returncode != 0:
        raise RuntimeError(f"saving the webhook block failed: {saved.stderr[-2000:]}")
