"""``doctor``: everything that must hold before archival is switched on, checked, each with its fix.

The seed spends most of its length on prerequisites and troubleshooting; these
checks are that prose as code. Each returns rows of ✅/❌/⚠️, and every ❌
carries the one command that fixes it. Only ❌ rows stop an enabled run;
⚠️ rows (Object Lock absent, a flag that is off) are advice.

This module holds the rows' shape, their order and the report; the checks
themselves are by subject: doctor_settings (the flag, the database URL, the
buckets, as the run resolves them), doctor_access (AWS identity, the log
chain's reads), doctor_buckets (each bucket's settings and the probe),
doctor_database (PostgreSQL, pg_dump), doctor_schedules (Prefect) and
doctor_copies (a second destination, checked as the first).
Which sponsors are checked, resolved as their runs resolve them, is
doctor_targets'.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from blocks.config import SponsorConfig
from blocks.flag import FlagDecision
from hht_archival.adapters import s3
from hht_archival.doctor_access import check_chain_read, check_identity
from hht_archival.doctor_buckets import check_bucket
from hht_archival.doctor_copies import check_second_copy
from hht_archival.doctor_database import check_database
from hht_archival.doctor_schedules import check_drills, check_scheduled_runs
from hht_archival.doctor_settings import check_settings

Status = Literal["ok", "fail", "warn"]
MARK = {"ok": "✅", "fail": "❌", "warn": "⚠️ "}


@dataclass
class Check:
    sponsor: str
    environment: str
    check: str
    status: Status
    detail: str
    fix: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def run_checks(config: SponsorConfig, flag: FlagDecision) -> list[Check]:
    """All checks for one sponsor and environment, in the order a person would fix them.

    ``flag`` is decided by the caller as a run would decide it (hht_archival/flag_here.py).
    """
    rows: list[Check] = []

    def add(check: str, status: Status, detail: str, fix: str | None = None) -> None:
        rows.append(
            Check(
                config.sponsor, config.environment, check, status, detail, fix if status == "fail" else None
            )
        )

    provision = f"hht-archival provision --sponsor {config.sponsor} --environment {config.environment}"
    check_settings(config, flag, add)
    if check_identity(config, add):
        client = s3.client_for(config)
        for label, bucket in (
            ("backups bucket", config.backups_bucket),
            ("audit bucket", config.audit_logs_bucket),
        ):
            exists = check_bucket(client, config, label, bucket, add, provision)
            if exists and bucket == config.audit_logs_bucket:
                check_chain_read(client, config, add)
    check_second_copy(config, add, provision)
    check_database(config, add)
    check_scheduled_runs(config.sponsor, add)
    check_drills(config, add)
    _check_alerts(config, add)
    return rows


def _check_alerts(config: SponsorConfig, add) -> None:
    """Whether a missed, failed or shrunken archive of this sponsor would reach a person (advice only)."""
    from hht_archival.engine import configured_api_url

    if configured_api_url() is None:
        add("alerts", "warn", "not checked: alerts live on a Prefect server (set PREFECT_API_URL)")
        return
    try:
        from hht_archival.alerts_install import state

        status, detail = state(config)
    except Exception as exc:
        status, detail = "warn", f"not checked: the Prefect server did not answer ({type(exc).__name__})"
    add("alerts", status, detail)


def passed(rows: list[Check]) -> bool:
    return not any(row.status == "fail" for row in rows)


def render(rows: list[Check]) -> str:
    lines, current = [], None
    for row in rows:
        if (row.sponsor, row.environment) != current:
            current = (row.sponsor, row.environment)
            lines.append(f"Sponsor {row.sponsor} ({row.environment})")
        lines.append(f"  {MARK[row.status]} {row.check:32s} {row.detail}")
        if row.fix:
            lines.append(f"       fix: {row.fix}")
    return "\n".join(lines)
