"""doctor's rows for a sponsor's second destination: named, reached by its own identity, like the first.

Why the same checks as the first copy's (doctor_access, doctor_buckets) run
again rather than a lighter test: the second copy must survive what the
first may not (a deleted account, a lost region), so it needs the same
versioning, encryption, lifecycle, Object Lock and rights; its rows carry its
name so the report says which destination lacks what. Its ❌ rows fail
doctor as the first copy's do, though a run with a failing second copy only
ends degraded: doctor is where to find that out before the flag goes on.
"""

from __future__ import annotations

from blocks.config import SponsorConfig
from blocks.second_copy import at_copy
from hht_archival.adapters import s3
from hht_archival.doctor_access import check_chain_read, check_identity
from hht_archival.doctor_buckets import check_bucket


def check_second_copy(config: SponsorConfig, add, provision: str) -> None:
    """Rows for the second copy, each prefixed with its name; one ✅ row naming it first."""
    if config.second is None:
        return
    there = at_copy(config, 2)
    name = there.copy_name
    add(f"{name}: second copy", "ok", f"{config.second.describe()} (from {_source(config)})")

    def add_there(check: str, status, detail: str, fix: str | None = None) -> None:
        add(f"{name}: {check}", status, detail, fix)

    if not check_identity(there, add_there):
        return
    client = s3.client_for(there)
    for label, bucket in (
        ("backups bucket", there.backups_bucket),
        ("audit bucket", there.audit_logs_bucket),
    ):
        if (
            check_bucket(client, there, label, bucket, add_there, provision)
            and bucket == there.audit_logs_bucket
        ):
            check_chain_read(client, there, add_there)


def _source(config: SponsorConfig) -> str:
    return config.sources.get("copy2_backups_bucket", "unknown")
