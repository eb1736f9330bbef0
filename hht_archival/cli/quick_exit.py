"""The command's last act: once every exit hook has run, leave without tearing the interpreter down.

Why: a command that ran a flow has some 3,000 modules loaded (Prefect, its
server's schemas, boto3, psycopg); Python's own teardown frees them one by
one, and took 0.3-0.7 s after the command's work and its exit hooks were
done, on every command. Nothing is lost by skipping it: the hooks that do
work at exit (Prefect's, the embedded API's stop, logging's flush) run first,
because this one is registered before them and atexit runs hooks in reverse;
standard output and error are flushed here. Only a command that ends by
``sys.exit`` (click's way, every status included) leaves so; an uncaught
exception or a signal takes Python's usual way out, with its usual status.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys

_status: list[int] = []  # the status the command is exiting with, once known


def arm() -> None:
    """Register the quick exit, unless an exit hook other than logging's is registered already.

    Hooks run in reverse order, so one registered before this would be skipped;
    then Python's usual way out is kept.
    """
    if getattr(atexit, "_ncallbacks", lambda: 99)() <= (1 if "logging" in sys.modules else 0):
        atexit.register(_leave)


def exiting_with(code: object) -> None:
    """The command is exiting by SystemExit(code): leave with the status Python would give it."""
    if code is None:
        _status.append(0)
    elif isinstance(code, int):
        _status.append(code & 0xFF)
    else:  # Python has printed a text status to stderr already
        _status.append(1)


def _leave() -> None:
    if not _status:
        return  # not a SystemExit: Python's own way out
    if "logging" in sys.modules:  # its own exit hook may be older than this one, so would not run
        import logging

        logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(_status[-1])
