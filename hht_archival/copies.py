"""``verify --copies``: the two copies of each backup of a period, read back and compared by SHA-256.

Why read every byte rather than compare tags: a tag is what the run wrote,
not what the store holds now; a copy rotted, overwritten or truncated on one
side keeps its tags. So each backup is downloaded from both destinations as
a stream (nothing on disk), hashed, and compared with the other copy and with
the SHA-256 the run recorded (its ``sha256`` tag). A copy that differs is
named by its destination; one missing at a side is named too. Objects in a
Glacier class cannot be read without a restore: they are compared by their
recorded SHA-256 and size only, and said to be.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date

from blocks.second_copy import PRIMARY, at_copy
from hht_archival.adapters import s3, s3_objects
from hht_archival.catalogue import COLD_CLASSES, Entry, list_entries
from hht_archival.naming import BACKUPS_PREFIX


@dataclass
class CopiesReport:
    """What ``verify --copies`` found: backups compared, each problem as a sentence naming its copy."""

    names: tuple[str, str]
    compared: int = 0
    identical: int = 0
    cold: int = 0  # compared by recorded SHA-256 and size only
    problems: list[str] = field(default_factory=list)


def compare_copies(config, environment: str | None, since: date | None) -> CopiesReport:
    """Compare every backup of ``config``'s sponsor (of ``environment``, from ``since``) at both copies."""
    second = at_copy(config, 2)
    sides = [(PRIMARY, config), (second.copy_name, second)]
    clients = {name: s3.client_for(side) for name, side in sides}
    listed = {
        name: {
            e.key: e
            for e in list_entries(
                clients[name], side.backups_bucket, BACKUPS_PREFIX, environment, since, side.sponsor
            )
        }
        for name, side in sides
    }
    report = CopiesReport(names=(PRIMARY, second.copy_name))
    for key in sorted(set().union(*listed.values()), reverse=True):
        report.compared += 1
        found = {name: listed[name].get(key) for name, _ in sides}
        absent = [name for name, entry in found.items() if entry is None]
        if absent:
            held = next(name for name in found if name not in absent)
            report.problems.append(f"{key} is missing at copy {absent[0]} (it is at copy {held})")
            continue
        problem, cold = _compare(key, sides, clients, found)
        report.cold += cold
        if problem:
            report.problems.append(problem)
        else:
            report.identical += 1
    return report


def _compare(key: str, sides, clients, found: dict[str, Entry]) -> tuple[str | None, bool]:
    """One backup at both copies: (a sentence naming the copy that differs, or None; whether it was cold)."""
    recorded, actual = {}, {}
    cold = any(entry.storage_class in COLD_CLASSES for entry in found.values())
    for name, side in sides:
        tags = s3_objects.get_tags(clients[name], side.backups_bucket, key, side.sponsor) or {}
        recorded[name] = tags.get("sha256")
        if cold:
            actual[name] = recorded[name]
        else:
            digest = hashlib.sha256()
            for chunk in s3_objects.chunks(clients[name], side.backups_bucket, key, side.sponsor):
                digest.update(chunk)
            actual[name] = digest.hexdigest()
    expected = next((value for value in recorded.values() if value), None)
    wrong = [name for name in actual if actual[name] != expected]
    if cold and found[sides[0][0]].size != found[sides[1][0]].size:
        wrong = wrong or [sides[1][0]]
    if not wrong:
        return None, cold
    if len(wrong) == len(actual):
        return f"{key} differs from its recorded SHA-256 {expected} at both copies", cold
    name = wrong[0]
    return (
        f"{key} at copy {name} has SHA-256 {actual[name]}, not the recorded {expected} that copy "
        f"{next(n for n in actual if n != name)} holds: it was changed or damaged there",
        cold,
    )
