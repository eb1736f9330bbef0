"""What an archive bucket must look like, and reading what it looks like now.

One description of the seed's requirements (versioning, default encryption,
public access blocked, lifecycle: DEEP_ARCHIVE at 90 days, expiry at 2555 days,
incomplete multipart uploads aborted) serves both ``doctor``, which reports
the differences, and ``provision``, which removes them without ever weakening
a stricter setting that is already there.

Contract of ``read_bucket_state``: a bucket that is not there is
``exists=False``, a setting never configured is ``None`` (or empty rules) and
a setting the role may not read is named in ``denied``, none of them an
error; any other failure is raised as s3_errors.translate words it.
Changing the settings is bucket_writes.py's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from hht_archival.adapters.s3_errors import error_code as _code
from hht_archival.adapters.s3_errors import translated

TRANSITION_DAYS = 90
TRANSITION_CLASS = "DEEP_ARCHIVE"
EXPIRATION_DAYS = 2555  # 7 years
ABORT_INCOMPLETE_DAYS = 7
RULE_ID = "hht-archival-retention"
PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}

_ABSENT = {
    "NoSuchBucket",
    "NoSuchLifecycleConfiguration",
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchPublicAccessBlockConfiguration",
    "ObjectLockConfigurationNotFoundError",
    "404",
    "NotFound",
}


@dataclass
class BucketState:
    """A bucket's settings as read from S3; ``None`` means "not configured"."""

    name: str
    exists: bool = True
    region: str | None = None
    versioning: str | None = None
    encryption: str | None = None
    public_access_block: dict[str, bool] | None = None
    lifecycle_rules: list[dict[str, Any]] = field(default_factory=list)
    object_lock: dict[str, Any] | None = None  # {"mode": "COMPLIANCE", "years": 7} or {"mode": None}
    denied: list[str] = field(default_factory=list)  # settings we were not allowed to read


def _read(state: BucketState, what: str, call):
    try:
        return call()
    except ClientError as exc:
        if _code(exc) in _ABSENT:
            return None
        if _code(exc) in ("AccessDenied", "403", "Forbidden"):
            state.denied.append(what)
            return None
        raise


def read_bucket_state(client, bucket: str, sponsor: str = "") -> BucketState:
    """Read every setting doctor checks; a missing bucket gives ``exists=False`` and nothing else."""
    with translated(sponsor, f"reading s3://{bucket}"):
        return _read_state(client, bucket)


def _read_state(client, bucket: str) -> BucketState:
    state = BucketState(name=bucket)
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if _code(exc) in ("404", "NoSuchBucket", "NotFound"):
            state.exists = False
            return state
        if _code(exc) not in ("403", "AccessDenied", "Forbidden"):
            raise
        state.denied.append("bucket")
    location = _read(state, "location", lambda: client.get_bucket_location(Bucket=bucket))
    if location is not None:
        state.region = location.get("LocationConstraint") or "us-east-1"
    versioning = _read(state, "versioning", lambda: client.get_bucket_versioning(Bucket=bucket))
    state.versioning = (versioning or {}).get("Status")
    encryption = _read(state, "encryption", lambda: client.get_bucket_encryption(Bucket=bucket))
    if encryption:
        rules = encryption["ServerSideEncryptionConfiguration"]["Rules"]
        state.encryption = rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] if rules else None
    block = _read(state, "public access block", lambda: client.get_public_access_block(Bucket=bucket))
    state.public_access_block = (block or {}).get("PublicAccessBlockConfiguration")
    lifecycle = _read(state, "lifecycle", lambda: client.get_bucket_lifecycle_configuration(Bucket=bucket))
    state.lifecycle_rules = (lifecycle or {}).get("Rules", [])
    lock = _read(state, "object lock", lambda: client.get_object_lock_configuration(Bucket=bucket))
    if lock is not None:
        config = lock.get("ObjectLockConfiguration", {})
        retention = config.get("Rule", {}).get("DefaultRetention", {})
        years = retention.get("Years") or (retention.get("Days", 0) / 365 if retention.get("Days") else None)
        state.object_lock = {
            "enabled": config.get("ObjectLockEnabled") == "Enabled",
            "mode": retention.get("Mode"),
            "years": years,
        }
    return state


def _enabled_rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rules if r.get("Status") == "Enabled"]


def _whole_bucket(rule: dict[str, Any]) -> bool:
    flt = rule.get("Filter", {"Prefix": rule.get("Prefix", "")})
    return flt.get("Prefix", "") == "" and "Tag" not in flt and "And" not in flt


def lifecycle_problems(rules: list[dict[str, Any]]) -> list[str]:
    """What the lifecycle lacks, as short phrases; empty when the seed's policy holds."""
    problems = []
    enabled = _enabled_rules(rules)
    transitions = [t for r in enabled if _whole_bucket(r) for t in r.get("Transitions", [])]
    if not any(
        t.get("StorageClass") == TRANSITION_CLASS and t.get("Days") == TRANSITION_DAYS for t in transitions
    ):
        found = ", ".join(f"{t.get('StorageClass')} at {t.get('Days')} days" for t in transitions) or "none"
        problems.append(f"no transition to {TRANSITION_CLASS} at {TRANSITION_DAYS} days (found: {found})")
    expirations = [r["Expiration"]["Days"] for r in enabled if "Days" in r.get("Expiration", {})]
    if not any(
        days >= EXPIRATION_DAYS
        for r in enabled
        if _whole_bucket(r)
        for days in [r.get("Expiration", {}).get("Days", 0)]
    ):
        problems.append(f"no expiration at {EXPIRATION_DAYS} days (7 years)")
    early = [days for days in expirations if days < EXPIRATION_DAYS]
    if early:
        problems.append(f"a rule expires objects after {min(early)} days, before the 7 years are up")
    if not any("AbortIncompleteMultipartUpload" in r for r in enabled):
        problems.append("incomplete multipart uploads are never aborted")
    return problems


def desired_lifecycle_rules(existing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rules provision writes: ours brought up to the seed's policy, everyone else's kept.

    An existing expiration of ours longer than 7 years is kept: provisioning never
    shortens retention.
    """
    ours = next((r for r in existing if r.get("ID") == RULE_ID), None)
    keep_days = (ours or {}).get("Expiration", {}).get("Days", 0)
    rule = {
        "ID": RULE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "Transitions": [{"Days": TRANSITION_DAYS, "StorageClass": TRANSITION_CLASS}],
        "Expiration": {"Days": max(EXPIRATION_DAYS, keep_days)},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_INCOMPLETE_DAYS},
    }
    if ours is not None and (
        ours.get("NoncurrentVersionExpiration") or ours.get("NoncurrentVersionTransitions")
    ):
        rule.update(
            {k: ours[k] for k in ("NoncurrentVersionExpiration", "NoncurrentVersionTransitions") if k in ours}
        )
    return [rule] + [r for r in existing if r.get("ID") != RULE_ID]
