"""``provision``: create or bring up to date a sponsor's two buckets, as ``doctor`` checks them.

Idempotent (a second run finds nothing to change and says so), previewable
(``dry_run``), and one-way: it only ever strengthens. A longer retention, a
compliance lock or another team's lifecycle rule already on the bucket stays.
Object Lock is opt-in because it can never be undone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hht_archival.adapters import bucket_writes as writes
from hht_archival.adapters.bucket_settings import (
    PUBLIC_ACCESS_BLOCK,
    desired_lifecycle_rules,
    lifecycle_problems,
    read_bucket_state,
)

LOCK_WARNING = (
    "Object Lock in {mode} mode cannot be undone: for {years} years after each upload nobody, "
    "not even the account's root user, can delete or overwrite a locked object version in {bucket}."
)


@dataclass
class Change:
    bucket: str
    setting: str
    before: str
    after: str
    apply: Callable[[], object]  # the one adapter call that makes it (bucket_writes.py)

    def describe(self) -> str:
        return f"{self.bucket}: {self.setting}: {self.before} -> {self.after}"


def plan_bucket(
    client,
    bucket: str,
    region: str,
    kms_key_id: str | None = None,
    object_lock: tuple[str, int] | None = None,
    sponsor: str = "",
) -> list[Change]:
    """The changes that would bring ``bucket`` up to the seed's requirements (nothing weaker)."""
    state = read_bucket_state(client, bucket, sponsor)
    changes: list[Change] = []
    lock_mode, lock_years = (object_lock[0].upper(), object_lock[1]) if object_lock else (None, 0)

    def change(setting: str, before: str, after: str, write: Callable, *args) -> None:
        changes.append(Change(bucket, setting, before, after, lambda: write(client, bucket, *args, sponsor)))

    if not state.exists:
        change("bucket", "absent", f"created in {region}", writes.create_bucket, region, bool(lock_mode))
        state.versioning = state.encryption = state.public_access_block = None
    if state.versioning != "Enabled":
        change("versioning", state.versioning or "never enabled", "Enabled", writes.enable_versioning)
    if not state.encryption:
        algorithm = "aws:kms" if kms_key_id else "AES256"
        change("default encryption", "none", algorithm, writes.set_default_encryption, kms_key_id)
    if state.public_access_block != PUBLIC_ACCESS_BLOCK:
        change(
            "public access block",
            public_access_text(state.public_access_block),
            "all public access blocked (all four settings)",
            writes.block_public_access,
        )
    if not state.exists or lifecycle_problems(state.lifecycle_rules):
        rules = desired_lifecycle_rules(state.lifecycle_rules)
        ours = rules[0]
        change(
            "lifecycle",
            "; ".join(lifecycle_problems(state.lifecycle_rules)) or "none",
            f"DEEP_ARCHIVE at {ours['Transitions'][0]['Days']} days, "
            f"expire at {ours['Expiration']['Days']} days, abort incomplete uploads",
            writes.put_lifecycle,
            rules,
        )
    if lock_mode:
        changes.extend(_plan_lock(client, bucket, state.object_lock or {}, lock_mode, lock_years, sponsor))
    return changes


def _plan_lock(client, bucket: str, current: dict, mode: str, years: int, sponsor: str) -> list[Change]:
    """Raise the default retention to ``mode``/``years``; never lower either."""
    have_mode, have_years = current.get("mode"), current.get("years") or 0
    target_mode = "COMPLIANCE" if "COMPLIANCE" in (have_mode, mode) else mode
    target_years = max(int(have_years), years)
    if (have_mode, have_years) == (target_mode, target_years):
        return []
    before = f"{have_mode} {have_years:g} years" if have_mode else "no default retention"
    return [
        Change(
            bucket,
            "object lock",
            before,
            f"{target_mode} {target_years} years",
            lambda: writes.put_lock_default(client, bucket, target_mode, target_years, sponsor),
        )
    ]


def public_access_text(block: dict[str, bool] | None) -> str:
    """A bucket's public access block in words, as provision and doctor show it (never a Python None)."""
    if not block:
        return "no public access block set"
    off = [name for name in PUBLIC_ACCESS_BLOCK if not block.get(name)]
    return f"not fully blocked: {', '.join(off)} off" if off else "all public access blocked"


def lock_warning(bucket: str, object_lock: tuple[str, int]) -> str:
    return LOCK_WARNING.format(mode=object_lock[0].lower(), years=object_lock[1], bucket=bucket)
