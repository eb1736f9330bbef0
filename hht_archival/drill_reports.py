"""The restore drills of a period, read back from the reports the drills stored in the audit bucket.

Why from S3: the drill's report (hht_archival/drill.py) is the auditor's
record, kept 7 years beside the deployment logs; Prefect's artifacts of the
same drill live only as long as the server's history. One listing of
``drills/`` finds them; each is read (a few at a time), or, once the lifecycle
rule has made it cold, its outcome comes from its metadata by HEAD.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from hht_archival.adapters import s3_objects
from hht_archival.chain_verify import READERS
from hht_archival.naming import DRILLS_PREFIX, ENVIRONMENT_KEYS, parse_drill_key


@dataclass
class DrillFact:
    key: str
    stamp: str
    status: str  # passed, failed, unknown (cold, written before reports kept their outcome in metadata)
    backup: str | None
    tables: int | None
    rows: int | None  # rows restored and compared with the counts recorded at backup time
    error: str | None
    read: str  # "read", "cold: facts from its metadata", "cold: not readable"

    @property
    def day(self) -> date:
        return datetime.strptime(self.stamp[:8], "%Y%m%d").date()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def drills_in(client, bucket: str, environment: str, first: date, last: date, sponsor: str) -> list:
    """Every drill report of ``environment`` from ``first`` to ``last`` (days, inclusive), oldest first."""
    short = ENVIRONMENT_KEYS[environment]
    wanted = []
    for listed in s3_objects.list_after(client, bucket, DRILLS_PREFIX, None, sponsor):
        parsed = parse_drill_key(listed["Key"])
        if parsed is None or parsed.env_key != short:
            continue
        day = datetime.strptime(parsed.stamp[:8], "%Y%m%d").date()
        if first <= day <= last:
            wanted.append((listed, parsed.stamp))
    with ThreadPoolExecutor(READERS) as readers:
        facts = list(readers.map(lambda item: _fact(client, bucket, *item, sponsor), wanted))
    return sorted(facts, key=lambda f: f.stamp)


def _fact(client, bucket: str, listed: dict, stamp: str, sponsor: str) -> DrillFact:
    key = listed["Key"]
    body = None
    if listed.get("StorageClass", "STANDARD") not in s3_objects.COLD_CLASSES:
        body = s3_objects.read(client, bucket, key, sponsor)
    if body is not None:
        try:
            report = json.loads(body)
        except ValueError:
            report = {}
        tables = report.get("tables") or {}
        return DrillFact(
            key=key,
            stamp=stamp,
            status=str(report.get("status") or "unknown"),
            backup=report.get("backup_location"),
            tables=len(tables),
            rows=sum(v for v in tables.values() if isinstance(v, int)),
            error=report.get("error"),
            read="read",
        )
    head = s3_objects.head(client, bucket, key, sponsor)
    meta = head.metadata if head is not None else {}
    return DrillFact(
        key=key,
        stamp=stamp,
        status=meta.get("status", "unknown"),
        backup=meta.get("backup-location"),
        tables=int(meta["tables"]) if meta.get("tables", "").isdigit() else None,
        rows=int(meta["rows"]) if meta.get("rows", "").isdigit() else None,
        error=meta.get("error"),
        read="cold: facts from its metadata" if "status" in meta else "cold: not readable",
    )
