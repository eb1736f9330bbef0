"""A TCP relay on loopback modelling a distant S3: each connection's uploads held to a rate, replies late.

Why: moto on loopback answers at once over a link as fast as memory, so it
cannot show what sending parts one at a time costs where one connection is
slower than the dump (another region, a shared uplink). This relay can; it is
a model, and the benchmark that uses it says so.
"""

from __future__ import annotations

import socket
import threading
import time


class SlowLink:
    """Relay to ``target``: ``rate`` bytes/s up per connection, each reply ``latency`` s late."""

    def __init__(self, target: tuple[str, int], rate: float, latency: float):
        self.target, self.rate, self.latency = target, rate, latency
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            client, _ = self._listener.accept()
            server = socket.create_connection(self.target)
            for end in (client, server):
                end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._upstream, args=(client, server), daemon=True).start()
            threading.Thread(target=self._downstream, args=(server, client), daemon=True).start()

    def _upstream(self, source: socket.socket, target: socket.socket) -> None:
        ready = 0.0
        with _closing_write(target):
            while data := source.recv(256 * 1024):
                now = time.monotonic()
                ready = max(ready, now) + len(data) / self.rate  # nothing saved up while idle
                time.sleep(ready - now)
                target.sendall(data)

    def _downstream(self, source: socket.socket, target: socket.socket) -> None:
        with _closing_write(target):
            while data := source.recv(64 * 1024):
                time.sleep(self.latency)
                target.sendall(data)


class _closing_write:
    """Swallow a connection's end (either side closed) and pass the end on to the other side."""

    def __init__(self, target: socket.socket):
        self._target = target

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, trace) -> bool:
        try:
            self._target.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        return kind is not None and issubclass(kind, OSError)
