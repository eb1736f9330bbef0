"""The few bytes a run's client and the warm-start server exchange over their Unix socket.

One request, client to server: a length-prefixed JSON document (the run's
environment, working directory, umask and arguments) sent with the client's
standard input, output and error as passed file descriptors, so the forked run
writes where Prefect's worker reads. Then two replies, server to client, each
a kind byte and a signed integer: ``P`` the run's process id (the client
forwards signals to it), then ``S`` its wait status when it has ended (the
client ends the same way). ``E`` instead of ``P``: the server could not fork
this run; the client starts it cold.

Environment values may hold secrets (a DATABASE_URL with a password, AWS
keys): they travel only over this socket, in a directory only the worker's
user can enter, never on a command line.
"""

from __future__ import annotations

import json
import os
import socket
import struct

_LENGTH = struct.Struct(">I")
_REPLY = struct.Struct(">ci")
STANDARD_STREAMS = (0, 1, 2)
PID, STATUS, REFUSED = b"P", b"S", b"E"


def send_request(connection: socket.socket, request: dict) -> None:
    body = json.dumps(request).encode()
    message = _LENGTH.pack(len(body)) + body
    sent = socket.send_fds(connection, [message], list(STANDARD_STREAMS))
    connection.sendall(message[sent:])


def receive_request(connection: socket.socket) -> tuple[dict, list[int]]:
    """The request and the three descriptors that came with it; the caller owns (closes) them."""
    data, descriptors, _flags, _address = socket.recv_fds(connection, 65536, len(STANDARD_STREAMS))
    if len(descriptors) != len(STANDARD_STREAMS):
        for descriptor in descriptors:
            _close(descriptor)
        raise ConnectionError("a warm-start request came without its standard streams")
    while len(data) < _LENGTH.size:
        data += _received(connection)
    (length,) = _LENGTH.unpack_from(data)
    while len(data) < _LENGTH.size + length:
        data += _received(connection)
    return json.loads(data[_LENGTH.size : _LENGTH.size + length]), descriptors


def send_reply(connection: socket.socket, kind: bytes, value: int) -> None:
    connection.sendall(_REPLY.pack(kind, value))


def receive_reply(connection: socket.socket) -> tuple[bytes, int]:
    """The next reply; ConnectionError when the server and the run have both gone without one."""
    data = b""
    while len(data) < _REPLY.size:
        data += _received(connection)
    kind, value = _REPLY.unpack(data)
    return kind, value


def _received(connection: socket.socket) -> bytes:
    chunk = connection.recv(65536)
    if not chunk:
        raise ConnectionError("the warm-start server closed the connection")
    return chunk


def _close(descriptor: int) -> None:
    try:
        os.close(descriptor)
    except OSError:
        pass
