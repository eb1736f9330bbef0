"""One evidence report: the period's facts as JSON, the same facts as one HTML file, both kept 7 years.

The facts are gathered once (hht_archival/evidence/facts.py, and the Prefect server
where one answers: server.py); the JSON is those facts, and the HTML
(html.py) is drawn from that same dictionary, so the two cannot say
different things. The report is then stored in the sponsor's audit bucket
under ``evidence/``, tagged and locked like a deployment log (landed.write_json:
read back, its SHA-256 compared by HEAD), so the report is evidence itself;
its facts are stored beside it as JSON.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, time
from typing import Any

from hht_archival.evidence import incidents as evidence_incidents
from hht_archival.evidence.copies import second_copy_facts
from hht_archival.evidence.facts import gather, thaw_command
from hht_archival.evidence.server import server_history
from hht_archival.landed import write_json
from hht_archival.naming import RunNames

SCHEMA_VERSION = 1


def build(client, config, first: date, last: date, now: datetime | None = None) -> tuple[dict, bytes]:
    """(the facts, the HTML report) of ``config``'s sponsor and environment from ``first`` to ``last``."""
    from blocks.config import load_settings
    from hht_archival.evidence.charts import draw
    from hht_archival.evidence.html import render

    now = now or datetime.now(UTC).replace(microsecond=0)
    gathered = gather(client, config, first, last)
    settings = load_settings()
    found = evidence_incidents.from_runs(
        gathered.runs,
        settings.archival_anomaly_size_fraction,
        settings.archival_anomaly_row_drop,
        settings.archival_anomaly_history,
    )
    start = datetime.combine(first, time.min, UTC)
    end = datetime.combine(last, time.max, UTC)
    server = server_history(config.sponsor, config.environment, start, end)
    deployments = {r["flow_run_id"]: r["deployment"] for r in server.runs if r.get("deployment")}
    facts = _facts(config, first, last, now, gathered, found, server, deployments)
    charts = draw(gathered.runs, server.runs, first, last)
    return facts, render(facts, charts).encode("utf-8")


def _facts(config, first, last, now, gathered, found, server, deployments) -> dict[str, Any]:
    runs = gathered.runs
    backups = [r for r in runs if r.status in ("archived", "unknown")]
    for run in backups:
        run_dict_deployment = deployments.get(run.flow_run_id or "")
        if run_dict_deployment:
            run.deployment = {"prefect deployment": run_dict_deployment, **run.deployment}
    incidents = evidence_incidents.merge(found, server.incidents)
    gaps = evidence_incidents.gaps(runs, first, min(last, now.date()))
    chain = gathered.chain
    drills = gathered.drills
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "evidence-report",
        "sponsor": config.sponsor,
        "environment": config.environment,
        "period": {"from": first.isoformat(), "to": last.isoformat(), "days": (last - first).days + 1},
        "generated_at": now.isoformat().replace("+00:00", "Z"),
        "generated_by": f"hht-archival {_version()}",
        "buckets": {"backups": config.backups_bucket, "audit_logs": config.audit_logs_bucket},
        "sources": {
            "s3": "the backups' listing, the deployment logs (the hash chain walked over the period), the "
            "restore drills' reports",
            "prefect_server": "crashed and cancelled runs, each run's deployment, the incidents as paged"
            if server.answered
            else f"not used: {server.why_not}; incidents are S3's alone (failed and anomalous runs, gaps)",
        },
        "summary": {
            "backups": len(backups),
            "bytes": sum(r.size or 0 for r in backups),
            "failed_runs": sum(r.status == "failed" for r in runs),
            "anomalous_backups": sum(bool(r.anomalies) for r in backups),
            "chain": "intact" if chain.intact else "broken",
            "cold_logs": len(chain.cold),
            "drills": len(drills),
            "drills_passed": sum(d.status == "passed" for d in drills),
            "incidents": len(incidents),
            "gap_days": sum(g["days"] for g in gaps),
            "problems": sum(len(r.problems) for r in runs),
            "degraded_runs": sum(bool(r.degraded) for r in runs),
        },
        "backups": [r.as_dict() for r in backups],
        "failed_runs": [r.as_dict() for r in runs if r.status == "failed"],
        "chain": {
            "intact": chain.intact,
            "logs": chain.logs,
            "chained": chain.chained,
            "problems": chain.problems,
            "cold_logs": chain.cold,
            "unchecked_links": chain.unchecked,
            "thaw": thaw_command(config) if chain.cold else None,
            "checked_against": chain.before_window,
        },
        "drills": [d.as_dict() for d in drills],
        "incidents": [i.as_dict() for i in incidents],
        "gaps": gaps,
        "second_copy": second_copy_facts(config, first, last, runs),
        "notes": gathered.notes,
    }


def store(client, config, facts: dict[str, Any], html: bytes, now: datetime) -> dict[str, Any]:
    """Keep the report and its facts under ``evidence/`` in the audit bucket, 7 years; return the facts
    with ``report`` (where each landed, the report's SHA-256, its retention) added."""
    names = RunNames(config.sponsor, config.environment, now)
    first, last = (facts["period"][k].replace("-", "") for k in ("from", "to"))
    sha256 = hashlib.sha256(html).hexdigest()
    html_key = names.evidence_key(first, last, "html")
    landed = _keep(client, config, names, html_key, html, "evidence report", "text/html; charset=utf-8")
    report = {
        "sha256": sha256,
        "location": f"s3://{config.audit_logs_bucket}/{html_key}",
        "retain_until": names.retain_until,
        "object_lock_until": landed.locked_until.isoformat() if landed.locked_until else None,
    }
    facts = {**facts, "report": report}
    json_key = names.evidence_key(first, last, "json")
    report["facts_location"] = f"s3://{config.audit_logs_bucket}/{json_key}"
    body = json.dumps(facts, indent=2, ensure_ascii=False).encode("utf-8")
    _keep(client, config, names, json_key, body, "evidence report's facts", "application/json")
    return facts


def _keep(client, config, names: RunNames, key: str, body: bytes, what: str, content_type: str):
    sha256 = hashlib.sha256(body).hexdigest()
    return write_json(
        client,
        config.audit_logs_bucket,
        key,
        body,
        what=what,
        tags=names.retention_tags("evidence-report", sha256),
        sponsor=config.sponsor,
        kms_key_id=config.sse_kms_key_id,
        readable=True,
        retain_until=names.retain_until,
        metadata={"sha256": sha256},
        content_type=content_type,
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hht-archival")
    except PackageNotFoundError:
        return "unknown"
