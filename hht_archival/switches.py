"""The ARCHIVAL_* switches that are on unless someone turns them off: one spelling of "off" for all.

Why a module: the embedded API's database template, its fork and the
worker's warm start each read such a switch, and each had its own copy of
the test. Standard library only: the warm-start client imports it and must
start in milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping

OFF = frozenset({"off", "0", "false", "no"})


def switched_on(environment: Mapping[str, str], name: str) -> bool:
    """Whether the switch ``name`` is on in ``environment``: unset, empty or anything but an "off"."""
    return environment.get(name, "").strip().lower() not in OFF
