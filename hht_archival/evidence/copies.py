"""The evidence report's second copy: what the sponsor's second destination holds for the period.

Why read it on its own rather than trust the first copy's logs: the second
copy is there for the day the first is gone, so an inspector must see that
it stands alone: its backups listed at its destination with its own
identity, its own chain of logs walked over the period, and each degraded
run (the second copy failed) named. Nothing is downloaded: ``verify
--copies`` is the command that compares every byte (hht_archival/copies.py).
"""

from __future__ import annotations

from datetime import date
from html import escape
from typing import Any

from blocks.second_copy import at_copy
from hht_archival.catalogue import list_entries
from hht_archival.chain_verify import verify_chain
from hht_archival.errors import ArchivalError
from hht_archival.naming import BACKUPS_PREFIX


def second_copy_facts(config, first: date, last: date, runs: list) -> dict[str, Any] | None:
    """The second destination's facts for the period; None for a sponsor with one copy."""
    if config.second is None:
        return None
    from hht_archival.adapters import s3

    there = at_copy(config, 2)
    facts: dict[str, Any] = {"name": there.copy_name, "where": config.second.describe()}
    facts["degraded_runs"] = [
        {"time": r.time, "why": r.degraded} for r in runs if getattr(r, "degraded", None)
    ]
    try:
        client = s3.client_for(there)
        entries = list_entries(
            client, there.backups_bucket, BACKUPS_PREFIX, there.environment, first, there.sponsor
        )
        chain = verify_chain(
            client, there.audit_logs_bucket, there.environment, there.sponsor, since=first, until=last
        )
    except ArchivalError as exc:  # worded by the adapter; the report says it could not read the copy
        facts["error"] = str(exc)
        return facts
    held = {e.key for e in entries if e.day <= last}
    archived = [r.backup_key for r in runs if r.status == "archived" and r.backup_key]
    facts.update(
        backups=len(held),
        missing=sorted(key for key in archived if key not in held),
        chain="intact" if chain.intact else "broken",
        logs=chain.logs,
        chain_problems=chain.problems[:20],
    )
    return facts


def second_copy_html(second: dict[str, Any] | None) -> str:
    """Its section of the page; empty for a sponsor with one copy."""
    if not second:
        return ""
    head = f'<h2 id="second-copy">Second copy: {escape(second["where"])}</h2>'
    if second.get("error"):
        return f'{head}<p class="bad">Not readable now: {escape(second["error"])}</p>'
    chain = (
        '<span class="ok">intact</span>' if second["chain"] == "intact" else '<span class="bad">BROKEN</span>'
    )
    missing = second["missing"]
    rows = [
        ("Backups held there", f"{second['backups']:,}"),
        (
            "Backups of the first copy missing there",
            f'<span class="bad">{len(missing)}</span>' if missing else "0",
        ),
        ("Its own audit log chain", f"{chain} ({second['logs']} log(s))"),
        ("Degraded runs (its copy failed)", str(len(second["degraded_runs"]))),
    ]
    items = [*(f"<li><code>{escape(k)}</code> missing</li>" for k in missing[:50])]
    items += [f"<li>{escape(d['time'])}: {escape(d['why'] or '')}</li>" for d in second["degraded_runs"]]
    items += [f'<li class="bad">{escape(p)}</li>' for p in second["chain_problems"]]
    body = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'{head}<table id="second-copy-table">{body}</table>' + (
        f"<ul>{''.join(items)}</ul>" if items else ""
    )
