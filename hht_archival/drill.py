"""Restore drills: restore the latest backup into a throwaway database and hold it to the record.

An auditor asks to see a restore, not a checksum. The drill restores (with the
same SHA-256 check as ``restore``), counts every table's rows and compares them
with the counts recorded in the dump's own snapshot, drops the throwaway
database, and writes a report an auditor can read. A mismatch names the table.

The scratch server need not know the application's roles, as a recovery
server would not: the restore creates the missing ones from the roles object
archived beside the backup, the report says which, and the drill drops them
again with the throwaway database, leaving the scratch server as it found it.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hht_archival.adapters import pg_admin, pg_inspect
from hht_archival.adapters.postgres import mask_url
from hht_archival.drill_setting import not_configured_sentence
from hht_archival.errors import ArchivalError, ConfigError, in_context, one_sentence
from hht_archival.landed import write_json
from hht_archival.naming import RunNames
from hht_archival.restore import restore_backup


def compare_counts(expected: dict[str, int] | None, actual: dict[str, int]) -> list[dict[str, Any]]:
    """Each table whose restored row count differs from the recorded one (or exists on one side only)."""
    if not expected:
        return [
            {
                "table": "*",
                "expected": None,
                "actual": None,
                "problem": "no row counts were recorded for this backup, so it cannot be checked",
            }
        ]
    differences = []
    for table in sorted(set(expected) | set(actual)):
        want, got = expected.get(table), actual.get(table)
        if want != got:
            problem = (
                "missing from the restore"
                if got is None
                else "not in the record"
                if want is None
                else f"{got} rows restored, {want} recorded"
            )
            differences.append({"table": table, "expected": want, "actual": got, "problem": problem})
    return differences


def run_drill(client, config, work_dir: Path, backup: str = "latest") -> dict[str, Any]:
    """Restore, count, compare, clean up; return the report (status ``passed`` or ``failed``).

    The scratch server is the sponsor's own (``config.drill_database_url``);
    without one the drill cannot run, and says what to set.
    """
    if config.drill_database_url is None:
        raise ConfigError(not_configured_sentence(config))
    drill_admin_url = config.drill_database_url.get_secret_value()
    started = datetime.now(UTC).replace(microsecond=0)
    name = f"hht_drill_{config.sponsor.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    report: dict[str, Any] = {
        "schema_version": 2,  # 2: roles_archived, roles_created, roles_existing, roles_dropped, roles
        "kind": "restore-drill",
        "sponsor": config.sponsor,
        "environment": config.environment,
        "started_at": started.isoformat().replace("+00:00", "Z"),
        "drill_server": mask_url(drill_admin_url),
        "throwaway_database": name,
        "status": "failed",
        "backup_location": None,
        "backup_sha256": None,
        "sha256_verified": False,
        "tables": {},
        "differences": [],
        "roles_archived": None,
        "roles_created": [],
        "roles_existing": [],
        "roles_dropped": [],
        "roles": None,
        "error": None,
    }
    try:
        target = pg_admin.create_database(drill_admin_url, name)
    except ArchivalError as exc:
        raise in_context(
            exc,
            f"Cannot create a throwaway database for sponsor {config.sponsor}: {exc}; check its drill "
            f"scratch server (from {config.sources.get('drill_database')}).",
        ) from None
    try:
        restored = restore_backup(client, config, backup, target, work_dir)
        report.update(
            backup_location=f"s3://{config.backups_bucket}/{restored.key}",
            backup_sha256=restored.sha256,
            sha256_verified=True,
            roles_archived=restored.roles.archived,
            roles_created=restored.roles.created,
            roles_existing=restored.roles.existing,
            roles=restored.roles.summary(),
        )
        try:
            actual = pg_inspect.table_rows(target)
        except ArchivalError as exc:
            raise in_context(
                exc, f"The drill for sponsor {config.sponsor} could not count what it restored: {exc}."
            ) from None
        report["tables"] = actual
        report["differences"] = compare_counts((restored.log or {}).get("table_counts"), actual)
        if restored.log_cold:  # the counts are in the log, which went cold with the backup
            report["differences"][0]["problem"] = (
                "the row counts are in its deployment log, which is in cold storage; ask for it with "
                "hht-archival verify --logs --request-glacier-restore and drill again once it is readable"
            )
        report["status"] = "failed" if report["differences"] else "passed"
        if report["differences"]:
            first = report["differences"][0]
            report["error"] = f"Table {first['table']} differs: {first['problem']}."
    except ArchivalError as exc:
        report["error"] = one_sentence(exc)
    finally:
        report["roles_dropped"] = _drop_throwaway(
            drill_admin_url, name, report["roles_created"], config.sponsor
        )
        report["throwaway_dropped"] = True
        report["finished_at"] = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    report["report_location"] = _store_report(client, config, report, started)
    return report


def _drop_throwaway(admin_url: str, name: str, roles: list[str], sponsor: str) -> list[str]:
    """Drop the throwaway database and the roles its restore created; return the roles dropped."""
    try:
        return pg_admin.drop_database(admin_url, name, roles)
    except ArchivalError as exc:
        raise in_context(
            exc,
            f"The drill for sponsor {sponsor} could not drop its throwaway database: {exc}; "
            f"drop database {name} on the drill server by hand.",
        ) from None


def _store_report(client, config, report: dict[str, Any], started: datetime) -> str:
    """The report goes to the audit bucket beside the deployment logs, tagged for 7-year retention."""
    names = RunNames(config.sponsor, config.environment, started)
    location = f"s3://{config.audit_logs_bucket}/{names.drill_key}"
    body = json.dumps({**report, "report_location": location}, indent=2, ensure_ascii=False).encode()
    tags = names.retention_tags("restore-drill")
    write_json(  # tags and checksum read back, its own retention where the bucket locks (landed.py)
        client,
        config.audit_logs_bucket,
        names.drill_key,
        body,
        what="restore drill report",
        tags=tags,
        sponsor=config.sponsor,
        kms_key_id=config.sse_kms_key_id,
        readable=True,
        retain_until=names.retain_until,
        metadata=drill_head_facts(report),  # what an evidence report reads by HEAD once the report is cold
    )
    return location


def drill_head_facts(report: dict[str, Any]) -> dict[str, str]:
    """A drill's outcome as S3 metadata (ASCII, short): readable by HEAD in any storage class."""
    tables = report.get("tables") or {}
    facts = {
        "status": str(report.get("status")),
        "backup-location": str(report.get("backup_location") or ""),
        "tables": str(len(tables)),
        "rows": str(sum(v for v in tables.values() if isinstance(v, int))),
        "error": str(report.get("error") or ""),
    }
    return {k: v.encode("ascii", "backslashreplace").decode("ascii")[:400] for k, v in facts.items() if v}


def render_markdown(report: dict[str, Any]) -> str:
    verdict = "✅ PASSED" if report["status"] == "passed" else "❌ FAILED"
    lines = [
        f"# Restore drill {verdict}: {report['sponsor']} ({report['environment']})",
        "",
        f"- Backup: `{report['backup_location']}`",
        f"- SHA-256 `{report['backup_sha256']}` verified before restore: {report['sha256_verified']}",
        f"- Restored into throwaway database `{report['throwaway_database']}` on {report['drill_server']}, "
        f"dropped afterwards: {report.get('throwaway_dropped', False)}",
        f"- {report.get('roles') or 'Roles: the restore did not get that far.'} Dropped with the throwaway "
        f"database: {', '.join(report.get('roles_dropped', [])) or 'none'}",
        f"- Started {report['started_at']}, finished {report.get('finished_at')}",
        f"- Report: `{report.get('report_location')}`",
        "",
    ]
    if report["error"]:
        lines += [f"**{report['error']}**", ""]
    lines += ["| table | rows restored | rows recorded |", "| --- | ---: | ---: |"]
    recorded = {d["table"]: d["expected"] for d in report["differences"]}
    for table, rows in sorted(report["tables"].items()):
        lines.append(f"| {table} | {rows} | {recorded.get(table, rows)} |")
    return "\n".join(lines)
