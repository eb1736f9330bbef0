"""``doctor``: everything that must hold before archival is switched on, checked, each with its fix.

The seed spends most of its length on prerequisites and troubleshooting; these
checks are that prose as code. Each returns rows of ✅/❌/⚠️, and every ❌
carries the one command that fixes it. Only ❌ rows stop an enabled run;
⚠️ rows (Object Lock absent, a flag that is off) are advice.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import Literal

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from blocks.binding import own_prefix
from blocks.config import SponsorConfig
from hht_archival.adapters import s3
from hht_archival.adapters.bucket_settings import (
    ABORT_INCOMPLETE_DAYS,
    EXPIRATION_DAYS,
    PUBLIC_ACCESS_BLOCK,
    TRANSITION_DAYS,
    lifecycle_problems,
    read_bucket_state,
)
from hht_archival.adapters.postgres import find_pg_dump, mask_url, pg_dump_version, server_version
from hht_archival.audit_chain import previous_link
from hht_archival.doctor_schedules import check_scheduled_runs
from hht_archival.errors import ArchivalError
from hht_archival.naming import DEPLOYMENT_LOGS_PREFIX, DOCTOR_PREFIX

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


def run_checks(config: SponsorConfig, flag: tuple[bool, str] | None) -> list[Check]:
    """All checks for one sponsor and environment, in the order a person would fix them."""
    rows: list[Check] = []

    def add(check: str, status: Status, detail: str, fix: str | None = None) -> None:
        rows.append(
            Check(
                config.sponsor, config.environment, check, status, detail, fix if status == "fail" else None
            )
        )

    provision = f"hht-archival provision --sponsor {config.sponsor} --environment {config.environment}"
    doppler = f"doppler secrets set {{}} --project hht-diary-{config.sponsor} --config {config.environment}"

    if flag is None:
        add("feature flag", "warn", "not checked: the Prefect variable needs PREFECT_API_URL")
    else:
        enabled, source = flag
        add(
            "feature flag",
            "ok" if enabled else "warn",
            f"{'enabled' if enabled else 'disabled'} (from {source})",
        )
    sources = config.sources
    if config.database_url is None:
        add(
            "DATABASE_URL",
            "fail",
            config.refusals["database"],
            doppler.format("DATABASE_URL=postgresql://USER:PASSWORD@HOST/DB"),
        )
    else:
        add(
            "DATABASE_URL",
            "ok",
            f"{mask_url(config.database_url.get_secret_value())} (from {sources.get('database')})",
        )
    add(
        "buckets",
        "ok",
        f"{config.backups_bucket} (from {sources.get('backups_bucket')}), {config.audit_logs_bucket} "
        f"(from {sources.get('audit_logs_bucket')}) in {config.region} (from {sources.get('region')})",
    )

    identity_ok = _check_identity(config, add)
    if identity_ok:
        client = s3.make_client(config.region, config.aws_credentials)
        for label, bucket in (
            ("backups bucket", config.backups_bucket),
            ("audit bucket", config.audit_logs_bucket),
        ):
            exists = _check_bucket(client, config, label, bucket, add, provision)
            if exists and bucket == config.audit_logs_bucket:
                _check_chain_read(client, config, add)
    _check_database(config, add)
    check_scheduled_runs(config.sponsor, add)
    _check_alerts(config, add)
    return rows


def _check_identity(config: SponsorConfig, add) -> bool:
    """Whose AWS identity this sponsor's runs use, where it comes from, and whether AWS accepts it."""
    fix = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or fix the AwsCredentials block"
    source = config.sources.get("aws_identity")
    if "aws_identity" in config.refusals:
        add(
            "AWS credentials",
            "fail",
            config.refusals["aws_identity"],
            fix.replace("AWS_", f"{own_prefix(config.sponsor)}AWS_"),
        )
        return False
    try:
        session = (
            config.aws_credentials.get_boto3_session() if config.aws_credentials else boto3.session.Session()
        )
        identity = session.client("sts", region_name=config.region).get_caller_identity()
        add("AWS credentials", "ok", f"valid: {identity['Arn']} (from {source})")
        return True
    except (ClientError, BotoCoreError) as exc:
        sts_error = exc
    try:  # no STS at this endpoint (some S3-compatible servers): a harmless S3 call instead
        s3.make_client(config.region, config.aws_credentials).list_buckets()
        add(
            "AWS credentials",
            "ok",
            f"valid for S3 (STS unavailable: {type(sts_error).__name__}) (from {source})",
        )
        return True
    except (ClientError, BotoCoreError) as exc:
        add("AWS credentials", "fail", s3.translate(exc, config.sponsor, "checking credentials").args[0], fix)
        return False


def _check_bucket(client, config: SponsorConfig, label: str, bucket: str, add, provision: str) -> bool:
    """The bucket's settings and the role's rights in it; False when the bucket is not there."""
    try:
        state = read_bucket_state(client, bucket)
    except (ClientError, BotoCoreError) as exc:
        add(label, "fail", s3.translate(exc, config.sponsor, f"reading s3://{bucket}").args[0], provision)
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
            "all public access blocked" if blocked else f"not fully blocked ({state.public_access_block})",
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
    _probe(client, config, label, bucket, add)
    return True


def _check_chain_read(client, config: SponsorConfig, add) -> None:
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
        cause = exc.__cause__
        if not isinstance(cause, ClientError | BotoCoreError):
            fix = (
                f"hht-archival verify --logs --sponsor {config.sponsor} --environment {config.environment} "
                "--request-glacier-restore"
            )
            add("audit bucket log chain", "fail", str(exc), fix)
            return
        exc = cause
        code = exc.response["Error"].get("Code") if isinstance(exc, ClientError) else type(exc).__name__
        add(
            "audit bucket log chain",
            "fail",
            f"{getattr(exc, 'operation_name', None) or 'reading'} under s3://{bucket}/"
            f"{DEPLOYMENT_LOGS_PREFIX} failed ({code}): runs could not link their logs, so would keep "
            "them local",
            "grant s3:ListBucket (prefix deployments/) and s3:GetObject on deployments/* "
            f"(see: hht-archival iam-policy --sponsor {config.sponsor})",
        )
        return
    first = "no deployment log yet; the first starts the chain"
    add("audit bucket log chain", "ok", f"the next log will follow {newest.key}" if newest.key else first)


def _probe(client, config: SponsorConfig, label: str, bucket: str, add) -> None:
    """Write, tag, read back and remove an object under doctor/: the permissions a run needs."""
    key = f"{DOCTOR_PREFIX}probe-{uuid.uuid4().hex}.txt"
    steps = (
        (
            "PutObject",
            lambda: client.put_object(
                Bucket=bucket,
                Key=key,
                Body=b"hht-archival doctor probe\n",
                **s3.encryption_args(config.sse_kms_key_id),
            ),
        ),
        (
            "PutObjectTagging",
            lambda: client.put_object_tagging(
                Bucket=bucket, Key=key, Tagging={"TagSet": [{"Key": "data-class", "Value": "doctor-probe"}]}
            ),
        ),
        ("GetObject", lambda: client.get_object(Bucket=bucket, Key=key)["Body"].read()),
    )
    done, version = [], None
    for action, call in steps:
        try:
            reply = call()
            if action == "PutObject":
                version = reply.get("VersionId")
            done.append(action)
        except ClientError as exc:
            add(
                f"{label} permissions",
                "fail",
                f"s3:{action} denied on s3://{bucket}/doctor/ ({exc.response['Error'].get('Code')}); "
                f"allowed: {', '.join(done) or 'nothing'}",
                f"grant s3:{action} (see: hht-archival iam-policy --sponsor {config.sponsor})",
            )
            break
    else:
        add(f"{label} permissions", "ok", "s3:PutObject, s3:PutObjectTagging, s3:GetObject allowed")
    if done:
        _remove_probe(client, bucket, key, version)


def _remove_probe(client, bucket: str, key: str, version: str | None) -> None:
    """Delete the probe's own version (no delete marker left); Object Lock may forbid it."""
    try:
        if version:
            client.delete_object(Bucket=bucket, Key=key, VersionId=version)
        else:
            client.delete_object(Bucket=bucket, Key=key)
    except ClientError:
        pass  # locked by Object Lock or not permitted: the probe is tiny and tagged doctor-probe


def _check_database(config: SponsorConfig, add) -> None:
    try:
        pg_dump = find_pg_dump()
        dump_major, dump_line = pg_dump_version(pg_dump)
    except ArchivalError as exc:
        add("pg_dump", "fail", str(exc), "apt-get install postgresql-client")
        return
    if config.database_url is None:
        add("pg_dump", "ok", dump_line)
        return
    try:
        server_major, server_text = server_version(config.database_url.get_secret_value())
    except Exception as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        add(
            "database",
            "fail",
            f"cannot connect: {reason}",
            "check DATABASE_URL and that the server is reachable",
        )
        add("pg_dump", "ok", dump_line)
        return
    add("database", "ok", f"PostgreSQL {server_text}")
    if dump_major < server_major:
        add(
            "pg_dump",
            "fail",
            f"{dump_line} is older than the server ({server_major}) and will refuse to dump it",
            f"apt-get install postgresql-client-{server_major} (or set ARCHIVAL_PG_DUMP to its pg_dump)",
        )
    else:
        add("pg_dump", "ok", dump_line)


def _check_alerts(config: SponsorConfig, add) -> None:
    """Whether a missed, failed or shrunken archive of this sponsor would reach a person (advice only)."""
    from hht_archival.engine import configured_api_url

    if configured_api_url() is None:
        add("alerts", "warn", "not checked: alerts live on a Prefect server (set PREFECT_API_URL)")
        return
    try:
        from hht_archival.alerts_install import state

        status, detail = state(config.sponsor, config.environment)
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
