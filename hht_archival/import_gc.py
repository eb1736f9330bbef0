"""Python's cyclic garbage collector held back while a process imports, and what it imported frozen.

Why: importing Prefect's server application creates hundreds of thousands of
objects that live as long as the process (modules, classes, pydantic and
SQLAlchemy models), and the collector, which runs every 700 new objects and
walks every older generation from time to time, walks them again and again
although none will ever be garbage. In the embedded API's forked process
(forked_server.py) that was a fifth of building the server's application:
2.07 s with Python's defaults, 1.61 s held back (medians of 5 alternating
rounds on the 2-core machine, benchmarks/server_build.py; benchmarks/startup.py
times the run's whole start). Frozen objects (``gc.freeze``) are left out of every
later collection too, so the server's collections while it serves stay
short. Python's own thresholds come back once start-up is over: the run's
garbage is collected as usual.
"""

from __future__ import annotations

import gc

_WHILE_IMPORTING = (50_000, 20, 100)  # young collections every 50,000 new objects, not 700
_USUAL = gc.get_threshold()  # Python's own, as this module found them


def hold_back() -> None:
    """Freeze what the process holds now and collect rarely until ``started``."""
    gc.freeze()
    gc.set_threshold(*_WHILE_IMPORTING)


def started() -> None:
    """Start-up is over: freeze what it imported and collect as usual from now on."""
    gc.freeze()
    gc.set_threshold(*_USUAL)
