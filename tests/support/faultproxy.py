"""An HTTP reverse proxy in front of the test S3 server that can inject S3 errors.

Why: retry/cleanup behaviour (failed part uploads, aborted multipart uploads, transient 500s)
can only be tested if S3 fails on cue. moto cannot do that, and patching botocore in-process
would bypass the real HTTP/retry stack. This proxy forwards requests byte-for-byte (keeping the
original ``Host`` header, which botocore signs) and answers matching requests itself with an
S3-style XML error, while recording every request it saw.

Request bodies sent with ``Transfer-Encoding: chunked`` are de-chunked and forwarded with a
``Content-Length``; ``Content-Encoding: aws-chunked`` bodies are opaque payload bytes and are
forwarded unchanged. ``Expect: 100-continue`` is answered by the proxy itself.
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

Query = dict[str, str]
Predicate = Callable[[str, str, Query], bool]
RequestRecord = tuple[str, str, Query]

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",
    }
)
_NO_BODY_STATUSES = frozenset({204, 304})
_MAX_LINE = 65537


# --------------------------------------------------------------------------- predicates


def _is_object_path(path: str) -> bool:
    return "/" in path.strip("/")  # path-style: /bucket/key


def is_upload_part(method: str, path: str, query: Query) -> bool:
    return method == "PUT" and "partNumber" in query and "uploadId" in query


def upload_part_number(number: int) -> Predicate:
    """UploadPart of part ``number`` only: parts travel two at once, so "the next part" is not one part."""
    return lambda method, path, query: (
        is_upload_part(method, path, query) and query.get("partNumber") == str(number)
    )


def is_create_multipart(method: str, path: str, query: Query) -> bool:
    return method == "POST" and "uploads" in query


def is_complete_multipart(method: str, path: str, query: Query) -> bool:
    return method == "POST" and "uploadId" in query


def is_abort_multipart(method: str, path: str, query: Query) -> bool:
    return method == "DELETE" and "uploadId" in query


def is_put_object(method: str, path: str, query: Query) -> bool:
    """A single-request PutObject (not UploadPart, not a ?tagging/?retention sub-resource)."""
    if method != "PUT" or "partNumber" in query or "uploadId" in query:
        return False
    return _is_object_path(path) and set(query) <= {"x-id"}


# --------------------------------------------------------------------------- proxy


@dataclass
class FaultRule:
    predicate: Predicate
    status: int
    code: str
    remaining: int | None  # None = forever
    hits: int = 0
    action: str = "error"  # error: answer status/code; reset: drop the connection; delay: hold, then forward;
    # swallow: answer 200 with no body and forward nothing (a store that acknowledges and keeps nothing)
    seconds: float = 0.0  # for delay


def _error_body(code: str, message: str = "injected") -> bytes:
    message = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    ).encode()


def _read_chunked(rfile) -> bytes:
    body = bytearray()
    while True:
        line = rfile.readline(_MAX_LINE)
        if not line:
            raise ConnectionError("EOF in chunked request body")
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while rfile.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
                pass  # discard HTTP trailer fields
            return bytes(body)
        body += rfile.read(size)
        rfile.readline(_MAX_LINE)  # CRLF after chunk data


class FaultyS3Proxy:
    """Threaded reverse proxy on 127.0.0.1:<free port> in front of ``upstream``.

    >>> with MotoS3() as s3, FaultyS3Proxy(s3.endpoint) as proxy:
    ...     proxy.fail(is_upload_part, times=2)   # first two UploadPart calls get a 500
    ...     client = s3_client(proxy.endpoint)
    """

    def __init__(self, upstream: str, timeout: float = 120) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL, got {upstream!r}")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.timeout = timeout
        self.endpoint = ""
        self.port = 0
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._requests: list[RequestRecord] = []
        self._injected = 0
        self._confined: dict[str, frozenset[str]] = {}  # access key id -> the buckets it may touch
        self.signed: list[tuple[str, str]] = []  # (access key id, bucket) of every signed request
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- fault rules and records
    def fail(
        self,
        predicate: Predicate,
        status: int = 500,
        code: str = "InternalError",
        times: int | None = 1,
    ) -> FaultRule:
        """Answer the next ``times`` requests matching ``predicate`` (None: all) with an error.

        Rules are checked in the order they were added; a request consumes at most one rule.
        """
        rule = FaultRule(predicate, status, code, times)
        with self._lock:
            self._rules.append(rule)
        return rule

    def reset(self, predicate: Predicate, times: int | None = 1) -> FaultRule:
        """Read the next ``times`` matching requests whole, then drop the connection unanswered (RST)."""
        rule = FaultRule(predicate, 0, "", times, action="reset")
        with self._lock:
            self._rules.append(rule)
        return rule

    def swallow(self, predicate: Predicate, times: int | None = 1) -> FaultRule:
        """Answer the next ``times`` matching requests 200 with no body, without forwarding them."""
        rule = FaultRule(predicate, 200, "", times, action="swallow")
        with self._lock:
            self._rules.append(rule)
        return rule

    def delay(self, predicate: Predicate, seconds: float, times: int | None = 1) -> FaultRule:
        """Hold the next ``times`` matching requests for ``seconds`` before forwarding them."""
        rule = FaultRule(predicate, 0, "", times, action="delay", seconds=seconds)
        with self._lock:
            self._rules.append(rule)
        return rule

    def confine(self, access_key_id: str, buckets: set[str]) -> None:
        """Answer 403 AccessDenied to requests signed by ``access_key_id`` for any other bucket.

        What an IAM policy per sponsor does in AWS: a run holding one sponsor's keys
        cannot reach another sponsor's buckets.
        """
        with self._lock:
            self._confined[access_key_id] = frozenset(buckets)

    def clear(self) -> None:
        """Remove all fault rules and confinements, and forget recorded requests."""
        with self._lock:
            self._rules.clear()
            self._requests.clear()
            self._confined.clear()
            self.signed.clear()
            self._injected = 0

    def _denied(self, authorization: str, path: str) -> bool:
        """Record who signed the request for which bucket; True when that key may not touch it."""
        key = (
            authorization.split("Credential=", 1)[1].split("/", 1)[0]
            if "Credential=" in authorization
            else ""
        )
        bucket = path.strip("/").split("/", 1)[0]
        with self._lock:
            self.signed.append((key, bucket))
            allowed = self._confined.get(key)
        return allowed is not None and bucket not in allowed

    @property
    def requests(self) -> list[RequestRecord]:
        """Snapshot of (method, path, query) for every request received, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def injected(self) -> int:
        with self._lock:
            return self._injected

    def _record_and_match(self, method: str, path: str, query: Query) -> FaultRule | None:
        with self._lock:
            self._requests.append((method, path, query))
            for rule in self._rules:
                if rule.remaining is not None and rule.remaining <= 0:
                    continue
                if rule.predicate(method, path, query):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    rule.hits += 1
                    self._injected += 1
                    return rule
        return None

    # -- lifecycle
    def __enter__(self) -> FaultyS3Proxy:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="faulty-s3-proxy", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    # -- request handling
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass  # keep pytest output clean

            def do_any(self) -> None:
                proxy._handle(self)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = do_any

        return Handler

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        method = h.command
        split = urlsplit(h.path)
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}

        has_body = False
        if "chunked" in h.headers.get("Transfer-Encoding", "").lower():
            body, has_body = _read_chunked(h.rfile), True
        elif h.headers.get("Content-Length") is not None:
            body, has_body = h.rfile.read(int(h.headers["Content-Length"])), True
        else:
            body = b""

        rule = self._record_and_match(method, split.path, query)
        if self._denied(h.headers.get("Authorization", ""), split.path):
            payload = _error_body("AccessDenied", "Access Denied")
            self._respond(h, 403, "Forbidden", [("Content-Type", "application/xml")], payload, method)
            return
        if rule is not None and rule.action == "reset":
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.close_connection = True
            h.connection.close()  # with linger 0: a TCP reset, as a dropped connection looks
            return
        if rule is not None and rule.action == "swallow":
            self._respond(h, 200, "OK", [("x-amz-request-id", "SWALLOWED")], b"", method)
            return
        if rule is not None and rule.action == "delay":
            time.sleep(rule.seconds)
            rule = None
        if rule is not None:
            payload = _error_body(rule.code)
            headers = [
                ("Content-Type", "application/xml"),
                ("x-amz-request-id", "INJECTED"),
            ]
            self._respond(h, rule.status, "Injected", headers, payload, method)
            return

        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=self.timeout)
        try:
            conn.putrequest(method, h.path, skip_host=True, skip_accept_encoding=True)
            for name, value in h.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    conn.putheader(name, value)  # includes the original Host header
            if has_body:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body if has_body else None)
            resp = conn.getresponse()
            data = resp.read()
            headers = resp.getheaders()
            status, reason = resp.status, resp.reason
        except (OSError, http.client.HTTPException) as exc:
            payload = _error_body("ProxyUpstreamError", repr(exc))
            self._respond(h, 502, "Bad Gateway", [], payload, method)
            return
        finally:
            conn.close()
        self._respond(h, status, reason, headers, data, method)

    @staticmethod
    def _respond(
        h: BaseHTTPRequestHandler,
        status: int,
        reason: str,
        headers: list[tuple[str, str]],
        body: bytes,
        method: str,
    ) -> None:
        upstream_length = None
        h.send_response_only(status, reason)
        for name, value in headers:
            lname = name.lower()
            if lname == "content-length":
                upstream_length = value
            elif lname not in HOP_BY_HOP:
                h.send_header(name, value)
        if method == "HEAD" or status in _NO_BODY_STATUSES:
            # HEAD keeps the upstream Content-Length (it is the object's size); no body follows.
            if upstream_length is not None:
                h.send_header("Content-Length", upstream_length)
            elif method == "HEAD" and status not in _NO_BODY_STATUSES:
                h.send_header("Content-Length", str(len(body)))
            h.end_headers()
        else:
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        h.wfile.flush()
