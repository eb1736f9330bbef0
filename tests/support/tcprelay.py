"""A TCP relay on loopback that can be cut: every connection through it dies, new ones are refused.

Why: "the Prefect API goes away mid-run" must be tested without killing the
session's shared Prefect server (and without starting one more, 15 s each).
The CLI talks to the server through this relay; cutting it is, for the
client, exactly a server that vanished (HTTP and the events websocket alike).
``cut_on`` cuts it at one exact moment: when a client sends a given byte
string (say, the name of a concurrency limit it asks a slot of), before that
request reaches the server.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpRelay:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._cut = False
        self._trigger: bytes | None = None
        self.tripped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._cut:
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def cut_on(self, trigger: bytes) -> None:
        """Cut the relay as soon as a client sends ``trigger``; what carried it is never forwarded."""
        self._trigger = trigger

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        tail = b""  # the end of the previous chunk, so a trigger split across two reads is still seen
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if from_client and self._trigger and self._trigger in tail + data:
                    self.tripped.set()
                    self.cut()
                    return
                tail = data[-len(self._trigger) :] if self._trigger else b""
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        """Refuse new connections and reset every open one."""
        with self._lock:
            self._cut = True
            sockets, self._sockets = self._sockets, []
        # shutdown() first: a bare close() leaves a socket that a thread blocks in accept() on still
        # listening, so clients would connect and then wait for an answer instead of being refused.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
