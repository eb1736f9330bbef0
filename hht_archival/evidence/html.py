"""The evidence report as one HTML file: no script, no network, prints well to PDF.

Drawn only from the facts dictionary report.py also stores as JSON,
so the page and the JSON say the same thing. Every value is escaped (a log's
error sentence or a deployment's ref is text, never markup). The pictures are
inline SVG (charts.py). The report's own SHA-256 cannot be inside it:
the command prints it, and the stored object carries it as its ``sha256`` tag
and metadata.
"""

from __future__ import annotations

from html import escape
from typing import Any

from hht_archival.evidence.copies import second_copy_html
from hht_archival.progress import human_size

_CSS = """
body { font-family: sans-serif; margin: 2em; color: #111; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #999; }
table { border-collapse: collapse; width: 100%; font-size: 0.8em; }
th, td { border: 1px solid #bbb; padding: 2px 4px; text-align: left; vertical-align: top; }
th { background: #eee; } td.num { text-align: right; } code { font-size: 0.95em; word-break: break-all; }
.ok { color: #2e7d32; } .bad { color: #c62828; font-weight: bold; } .warn { color: #8d6e00; }
.chart { page-break-inside: avoid; margin: 0.5em 0; }
@page { size: A4 landscape; margin: 12mm; }
@media print { body { margin: 0; } h2 { page-break-after: avoid; } tr { page-break-inside: avoid; } }
"""


def render(facts: dict[str, Any], charts: dict[str, str]) -> str:
    """The whole page."""
    who = f"{facts['sponsor']} ({facts['environment']})"
    period = f"{facts['period']['from']} to {facts['period']['to']}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Evidence: {escape(who)}, {escape(period)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Backup evidence for sponsor {escape(who)}, {escape(period)}</h1>",
        _summary(facts),
        '<h2 id="pictures">Pictures</h2>',
        *(f'<div class="chart" id="chart-{escape(name)}">{svg}</div>' for name, svg in charts.items()),
        _backups(facts["backups"]),
        _chain(facts["chain"]),
        second_copy_html(facts.get("second_copy")),
        _drills(facts["drills"]),
        _incidents(facts["incidents"], facts["sources"]["prefect_server"]),
        _gaps(facts["gaps"]),
        _failed(facts["failed_runs"]),
        _about(facts),
        "</body></html>",
    ]
    return "\n".join(parts)


def _summary(facts: dict) -> str:
    s = facts["summary"]
    chain = '<span class="ok">intact</span>' if s["chain"] == "intact" else '<span class="bad">BROKEN</span>'
    rows = [
        ("Backups in the period", f"{s['backups']:,} ({human_size(s['bytes'])})"),
        ("Failed runs", str(s["failed_runs"])),
        ("Anomalous backups", str(s["anomalous_backups"])),
        ("Audit log hash chain", f"{chain}; {s['cold_logs']} log(s) in cold storage"),
        ("Restore drills", f"{s['drills']} ({s['drills_passed']} passed)"),
        ("Incidents", str(s["incidents"])),
        ("Days without a successful archive", str(s["gap_days"])),
        ("Where the bucket and the logs disagree", str(s["problems"])),
        ("Backups bucket", f"<code>{escape(facts['buckets']['backups'])}</code>"),
        ("Audit bucket", f"<code>{escape(facts['buckets']['audit_logs'])}</code>"),
        ("Generated", f"{escape(facts['generated_at'])} by {escape(facts['generated_by'])}"),
        ("From S3", escape(facts["sources"]["s3"])),
        ("From the Prefect server", escape(facts["sources"]["prefect_server"])),
    ]
    body = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<h2 id="summary">Summary</h2><table id="summary-table">{body}</table>'


def _table(anchor: str, title: str, header: list[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f'<h2 id="{anchor}">{escape(title)}</h2><p>{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<h2 id="{anchor}">{escape(title)}</h2><table id="{anchor}-table"><tr>{head}</tr>{body}</table>'


def _code(text: Any) -> str:
    return f"<code>{escape(str(text))}</code>" if text else "—"


def _backups(backups: list[dict]) -> str:
    rows = []
    for b in backups:
        deployment = "; ".join(f"{k}: {v}" for k, v in b["deployment"].items()) or "—"
        remarks = [*(f'<span class="warn">anomalous: {escape(a)}</span>' for a in b["anomalies"])]
        remarks += [f'<span class="bad">{escape(p)}</span>' for p in b["problems"]]
        if b.get("degraded"):
            remarks.append(f'<span class="warn">degraded: {escape(b["degraded"])}</span>')
        if b["log_read"] != "read":
            remarks.append(escape(f"log {b['log_read']}"))
        rows.append(
            [
                escape(b["time"]),
                _code(b["backup_key"]),
                f'<span class="num">{b["size"]:,}</span>' if b["size"] else "—",
                _code(b["sha256"]),
                escape(b["checksum"]),
                escape(b["storage_class"] or "not listed"),
                escape(b["retention"]),
                f"run {_code(b['flow_run_id'])}<br>{escape(deployment)}",
                escape(b["flag_source"] or "—"),
                "<br>".join(remarks) or "—",
            ]
        )
    header = ["time (UTC)", "backup", "bytes", "SHA-256", "store's checksum", "storage class now"]
    header += ["retention", "made by", "flag from", "remarks"]
    return _table("backups", "Every backup", header, rows, "No backup in the period.")


def _chain(chain: dict) -> str:
    verdict = (
        f'<p class="ok">Intact: {chain["logs"]} deployment log(s) walked, {chain["chained"]} carrying a '
        "link; none was removed or changed.</p>"
        if chain["intact"]
        else f'<p class="bad">Broken in {len(chain["problems"])} place(s):</p>'
    )
    problems = "".join(f"<li class='bad'>{escape(p)}</li>" for p in chain["problems"])
    parts = [f'<h2 id="chain">Audit log hash chain</h2>{verdict}']
    if problems:
        parts.append(f'<ul id="chain-problems">{problems}</ul>')
    if chain["checked_against"]:
        parts.append(f"<p>The first link was checked against {_code(chain['checked_against'])}.</p>")
    if chain["cold_logs"]:
        cold = "".join(f"<li>{_code(k)}</li>" for k in chain["cold_logs"])
        parts.append(
            f"<p class='warn'>{len(chain['cold_logs'])} log(s) in cold storage (DEEP_ARCHIVE) could not be "
            "read: the link each carries was not checked (the links to them were, by the SHA-256 HEAD read). "
            f"To check them: <code>{escape(chain['thaw'])}</code> (Bulk: up to 48 hours), then make this "
            f"report again.</p><ul id='cold-logs'>{cold}</ul>"
        )
    return "".join(parts)


def _drills(drills: list[dict]) -> str:
    rows = [
        [
            escape(d["stamp"]),
            _code(d["backup"]),
            f"{d['rows']:,} rows in {d['tables']} tables" if d["rows"] is not None else "—",
            '<span class="ok">passed</span>'
            if d["status"] == "passed"
            else f'<span class="bad">{escape(d["status"])}</span>',
            escape(d["error"] or "—"),
            _code(d["key"]),
        ]
        for d in drills
    ]
    header = ["when (UTC)", "backup drilled", "rows compared", "outcome", "why not", "drill report"]
    return _table("drills", "Restore drills", header, rows, "No restore drill in the period.")


def _incidents(incidents: list[dict], server: str) -> str:
    rows = [
        [
            escape(i["kind"]),
            escape(i["start"]),
            escape(i["recovery"] or "not recovered in the period"),
            str(i["runs"]),
            escape(i["message"]),
            escape(", ".join(i["sources"])),
        ]
        for i in incidents
    ]
    header = ["incident", "started", "recovered", "runs", "message", "known from"]
    table = _table("incidents", "Incidents", header, rows, "No incident in the period.")
    return f"{table}<p>The Prefect server: {escape(server)}.</p>"


def _gaps(gaps: list[dict]) -> str:
    rows = [[escape(g["from"]), escape(g["to"]), str(g["days"])] for g in gaps]
    empty = "None: every day of the period had a successful archive."
    return _table("gaps", "Days without a successful archive", ["from", "to", "days"], rows, empty)


def _failed(failed: list[dict]) -> str:
    rows = [[escape(r["time"]), escape(r["error"] or "—"), _code(r["log_key"])] for r in failed]
    header = ["time (UTC)", "why", "deployment log"]
    return _table("failed-runs", "Failed runs", header, rows, "No failed run in the period.")


def _about(facts: dict) -> str:
    notes = "".join(f"<li class='warn'>{escape(n)}</li>" for n in facts["notes"])
    return (
        '<h2 id="about">How this report was made</h2><p>From S3: one listing of the backups (key, size, '
        "storage class now; no backup was read), every deployment log of the period (the hash chain walked; "
        "a cold log by HEAD of its metadata), the restore drills' reports. Each backup's SHA-256, retention "
        "and run are as its deployment log recorded them when the run read them back from S3. Anomalies are "
        "judged as the runs judge them (ARCHIVAL_ANOMALY_* in force when the report was made). This "
        "report's SHA-256 is printed by the command that made it and kept as the stored object's sha256 "
        f"tag and metadata.</p><ul>{notes}</ul>"
    )
