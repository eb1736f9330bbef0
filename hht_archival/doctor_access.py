"""doctor's rows for access: whose AWS identity a sponsor's runs use, and whether they can link their logs.

Both are about the role rather than a bucket's settings, and both are answered
by asking S3 (s3_client.identify, the chain's own reads): a refusal becomes a
❌ row whose fix names the variable or IAM right that is missing.
"""

from __future__ import annotations

from blocks.config import SponsorConfig
from hht_archival.adapters.s3_client import identify
from hht_archival.adapters.s3_errors import refusal
from hht_archival.audit_chain import previous_link
from hht_archival.doctor_settings import identity_fix
from hht_archival.errors import ArchivalError
from hht_archival.naming import DEPLOYMENT_LOGS_PREFIX


def check_identity(config: SponsorConfig, add) -> bool:
    """Whose AWS identity this sponsor's runs use, where it comes from, and whether AWS accepts it."""
    fix = identity_fix(config)  # the variables this sponsor reads: its prefix, or the seed's names
    source = config.sources.get("aws_identity")
    if "aws_identity" in config.refusals:
        add("AWS credentials", "fail", config.refusals["aws_identity"], fix)
        return False
    try:
        identity = identify(config)
    except ArchivalError as exc:  # worded by the adapter
        add("AWS credentials", "fail", str(exc), fix)
        return False
    if identity.arn:
        add("AWS credentials", "ok", f"valid: {identity.arn} (from {source})")
    else:  # no STS at this endpoint (some S3-compatible servers): S3 accepted the identity instead
        add(
            "AWS credentials",
            "ok",
            f"valid for S3 (STS unavailable: {identity.sts_error}) (from {source})",
        )
    return True


def check_chain_read(client, config: SponsorConfig, add) -> None:
    """Each uploaded log links the newest one before it, so a run must list and read the logs.

    Without that right the run still archives the backup, but keeps its log
    local (an unlinked log would break the chain): better found here than in a
    nightly run's log. A log in cold storage is not a permission problem: the
    link is made by HEAD, which answers for cold objects; only an old cold log
    that kept no SHA-256 readable by HEAD needs its Glacier restore first.
    """
    bucket = config.audit_logs_bucket
    try:
        after_all = DEPLOYMENT_LOGS_PREFIX + "~"  # sorts after every log: the newest is the one linked
        newest = previous_link(client, bucket, config.environment, after_all, config.sponsor)
    except ArchivalError as exc:
        refused = refusal(exc)
        if refused is None:  # a cold log that kept no SHA-256 readable by HEAD
            fix = (
                f"hht-archival verify --logs --sponsor {config.sponsor} --environment {config.environment} "
                "--request-glacier-restore"
            )
            add("audit bucket log chain", "fail", str(exc), fix)
            return
        operation, code = refused
        add(
            "audit bucket log chain",
            "fail",
            f"{operation} under s3://{bucket}/{DEPLOYMENT_LOGS_PREFIX} failed ({code}): runs could not link "
            "their logs, so would keep them local",
            "grant s3:ListBucket (prefix deployments/) and s3:GetObject on deployments/* "
            f"(see: hht-archival iam-policy --sponsor {config.sponsor})",
        )
        return
    first = "no deployment log yet; the first starts the chain"
    add("audit bucket log chain", "ok", f"the next log will follow {newest.key}" if newest.key else first)
