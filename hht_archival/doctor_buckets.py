"""doctor's rows for one bucket: its settings against the seed's, and what the role may do in it.

Kept apart from the identity and database checks: this is the part that grows
with what a bucket must look like (bucket_settings.py holds the requirements,
which provision applies), and each ❌ row's fix is ``provision``.
"""

from __future__ import annotations

import uuid

from blocks.config import SponsorConfig
from hht_archival.adapters.bucket_settings import (
    ABORT_INCOMPLETE_DAYS,
    EXPIRATION_DAYS,
    PUBLIC_ACCESS_BLOCK,
    TRANSITION_DAYS,
    lifecycle_problems,
    read_bucket_state,
)
from hht_archival.adapters.s3_probe import probe, read_answer
from hht_archival.errors import ArchivalError
from hht_archival.naming import BACKUPS_PREFIX, DOCTOR_PREFIX
from hht_archival.provision import public_access_text


def check_bucket(client, config: SponsorConfig, label: str, bucket: str, add, provision: str) -> bool:
    """The bucket's settings and the role's rights in it; False when the bucket is not there."""
    try:
        state = read_bucket_state(client, bucket, config.sponsor)
    except ArchivalError as exc:  # worded by the adapter
        add(label, "fail", str(exc), provision)
        return False
    if not state.exists:
        add(f"{label} exists", "fail", f"{bucket} does not exist", provision)
        return False
    add(f"{label} exists", "ok", bucket)
    if state.region is not None:
        same = state.region == config.region
        add(
            f"{label} region",
            "ok" if same else "fail",
            f"{state.region}" + ("" if same else f", expected {config.region}"),
            f"set SPONSOR_AWS_REGION={state.region}, or use a bucket in {config.region}",
        )
    for what in state.denied:
        add(
            f"{label} {what}",
            "fail",
            "reading it was denied",
            "grant s3:GetBucket* read access to the doctor's role",
        )
    if "versioning" not in state.denied:
        add(
            f"{label} versioning",
            "ok" if state.versioning == "Enabled" else "fail",
            state.versioning or "never enabled",
            provision,
        )
    if "encryption" not in state.denied:
        add(
            f"{label} encryption",
            "ok" if state.encryption else "fail",
            f"default {state.encryption}" if state.encryption else "no default encryption",
            provision,
        )
    if "public access block" not in state.denied:
        blocked = state.public_access_block == PUBLIC_ACCESS_BLOCK
        add(
            f"{label} public access",
            "ok" if blocked else "fail",
            public_access_text(state.public_access_block),
            provision,
        )
    if "lifecycle" not in state.denied:
        problems = lifecycle_problems(state.lifecycle_rules)
        add(
            f"{label} lifecycle",
            "fail" if problems else "ok",
            "; ".join(problems)
            if problems
            else f"{TRANSITION_DAYS} days -> DEEP_ARCHIVE, expire after {EXPIRATION_DAYS} days, "
            f"abort incomplete uploads after {ABORT_INCOMPLETE_DAYS} days",
            provision,
        )
    lock = state.object_lock or {}
    if lock.get("mode") == "COMPLIANCE" and (lock.get("years") or 0) >= 7:
        add(f"{label} object lock", "ok", f"compliance mode, {lock['years']:g} years")
    else:
        found = f"{lock.get('mode')} mode, {lock.get('years')} years" if lock.get("mode") else "absent"
        add(
            f"{label} object lock",
            "warn",
            f"{found}: an FDA archive wants compliance mode for 7 years "
            f"({provision} --object-lock compliance --years 7; cannot be undone)",
        )
    _check_probe(client, config, label, bucket, add)
    if label == "backups bucket":
        _check_backups_unreadable(client, config, bucket, add)
    return True


def _check_probe(client, config: SponsorConfig, label: str, bucket: str, add) -> None:
    """Write, tag, read back and remove an object under doctor/: the permissions a run needs."""
    key = f"{DOCTOR_PREFIX}probe-{uuid.uuid4().hex}.txt"
    result = probe(client, bucket, key, config.sse_kms_key_id, config.sponsor)
    if result.refused is None:  # what was tried is doctor/ only: it says nothing of reading backups
        add(
            f"{label} permissions",
            "ok",
            "its own probe under doctor/ written, tagged and read back (the archival role may GetObject "
            "under doctor/ only)",
        )
        return
    add(
        f"{label} permissions",
        "fail",
        f"s3:{result.refused} denied on s3://{bucket}/doctor/ ({result.code}); "
        f"allowed: {', '.join(result.allowed) or 'nothing'}",
        f"grant s3:{result.refused} (see: hht-archival iam-policy --sponsor {config.sponsor})",
    )


def _check_backups_unreadable(client, config: SponsorConfig, bucket: str, add) -> None:
    """Whether this identity may read backups/: the archival role must not (hht_archival/iam.py says why).

    A GET of a key that is not there reads nothing; S3's answer tells whether
    the read was allowed. Allowed is advice, not a failure: an operator's own
    identity may read, the role that runs archives should not. A refusal could
    also come from a role that may read but not list (S3 hides a missing key
    from it); telling those apart would mean reading a real backup, which
    doctor does not do.
    """
    key = f"{BACKUPS_PREFIX}doctor-read-check-{uuid.uuid4().hex}"
    try:
        code = read_answer(client, bucket, key, config.sponsor)
    except ArchivalError as exc:
        add("backups bucket reads", "warn", f"not checked: {exc}")
        return
    if code in ("AccessDenied", "403", "Forbidden"):
        add(
            "backups bucket reads",
            "ok",
            f"refused under s3://{bucket}/{BACKUPS_PREFIX} ({code}): this identity cannot read the backups, "
            "as the archival role must not",
        )
    elif code in ("NoSuchKey", "404"):
        add(
            "backups bucket reads",
            "warn",
            f"this identity may read s3://{bucket}/{BACKUPS_PREFIX} (S3 answered {code}, not AccessDenied): "
            "fine for an operator, but runs should use a role with only the rights of "
            f"hht-archival iam-policy --sponsor {config.sponsor}, which cannot",
        )
    else:
        add("backups bucket reads", "warn", f"not checked: S3 answered {code}")
