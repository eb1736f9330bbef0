"""status's ``copies`` column: whether a sponsor's second destination holds the newest backup too.

Why from the second copy's own audit bucket: its log chain is the record of
what landed there (tasks/second_copy.py writes a log only once its backup,
tags and roles are in), so its newest log against the first copy's says
whether the second is current, behind (a degraded run, or the destination
unreachable since), or unreadable now.
"""

from __future__ import annotations

from blocks.second_copy import at_copy
from hht_archival import alert_events


def copies_cell(config, newest_first: str | None) -> tuple[str, bool]:
    """(what the column shows, whether it needs attention) for ``config``'s sponsor and environment."""
    if config.second is None:
        return "one", False
    from hht_archival.adapters import s3
    from hht_archival.errors import ArchivalError
    from hht_archival.history import recent_archives

    there = at_copy(config, 2)
    name = there.copy_name
    try:
        archives = recent_archives(
            s3.client_for(there), there.audit_logs_bucket, there.environment, 1, there.sponsor
        )
    except ArchivalError as exc:
        return f"2 ({name} unreadable: {exc})", True
    if not archives:
        return f"2 ({name}: none yet)", newest_first is not None
    newest = archives[0].timestamp
    if newest == newest_first:
        return f"2 ({name}: the same backup)", False
    return f"2 ({name}: last {alert_events.shown(newest)}, behind the first copy)", True
