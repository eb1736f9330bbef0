"""A sponsor's optional second destination ("copy 2"): where it is bound from, and the config it runs with.

Why its own module: the second copy is bound exactly like the first (sponsor
block, the sponsor's prefixed environment, its manifest entry, in that order:
blocks/config.py), but has settings the first does not need (a name, an
endpoint of another provider, an identity of another account), and every
command that reaches S3 wants "the same configuration, at the other copy".
``at_copy`` gives that: a SponsorConfig whose buckets, region, endpoint, KMS
key and identity are the second destination's, so tag, roles, the log, doctor,
provision, list, restore and verify run unchanged against it.

Environment names (each behind the sponsor's prefix, like the rest):
ARCHIVAL_COPY2_BACKUPS_BUCKET and ARCHIVAL_COPY2_AUDIT_LOGS_BUCKET (both, or
neither), ARCHIVAL_COPY2_NAME, ARCHIVAL_COPY2_REGION,
ARCHIVAL_COPY2_ENDPOINT_URL, ARCHIVAL_COPY2_SSE_KMS_KEY_ID and the identity
ARCHIVAL_COPY2_AWS_ACCESS_KEY_ID / _SECRET_ACCESS_KEY / _SESSION_TOKEN or
ARCHIVAL_COPY2_AWS_PROFILE.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from blocks.binding import BoundEnvironment, prefixed_keys
from hht_archival.errors import ConfigError
from hht_archival.naming import validate_bucket

PRIMARY = "primary"  # the first copy's name
DEFAULT_NAME = "copy2"
KEY_PREFIX = "ARCHIVAL_COPY2_"  # its own identity: {prefix}ARCHIVAL_COPY2_AWS_ACCESS_KEY_ID...
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


class SecondCopyEntry(BaseModel):
    """A manifest entry's ``copy2:`` mapping (no secrets: the identity is bound on the workers)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, description="What logs, doctor and --copy call it.")
    region: str | None = Field(default=None, description="Its region; default the first copy's.")
    endpoint_url: str | None = Field(default=None, description="Another S3-compatible provider's endpoint.")
    backups_bucket: str | None = None
    audit_logs_bucket: str | None = None
    sse_kms_key_id: str | None = None


@dataclass(frozen=True)
class SecondCopy:
    """The second destination as resolved; ``aws_credentials`` may hold secrets (SecretStr inside)."""

    name: str
    region: str
    backups_bucket: str
    audit_logs_bucket: str
    endpoint_url: str | None = None
    sse_kms_key_id: str | None = None
    aws_credentials: Any = None
    sources: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """How logs and doctor name it: ``dr-us (s3://bucket, us-east-1, endpoint host)``."""
        where = f"{self.region}, {urlsplit(self.endpoint_url).netloc}" if self.endpoint_url else self.region
        return f"{self.name} (s3://{self.backups_bucket}, {where})"


def resolve_second_copy(
    sponsor: str,
    blk: Any,
    bound: BoundEnvironment,
    entry: SecondCopyEntry | None,
    first: dict[str, Any],
    manifest_source: str = "manifest",
) -> SecondCopy | None:
    """The sponsor's second destination from the block, its environment, its manifest entry; None if unset.

    ``first`` holds the first copy's region, buckets and credentials: the defaults, and the same-bucket check.
    """
    sources: dict[str, str] = {}
    block_values = getattr(blk, "copy2", None) or {}
    block_source = f"block {blk.name}" if blk is not None else ""

    def pick(setting: str) -> Any:
        variable = f"copy2_{setting}"
        for value, source in (
            (block_values.get(setting), block_source),
            (bound.get(variable), bound.source(variable)),
            (entry and getattr(entry, setting), f"{manifest_source} copy2"),
        ):
            if value not in (None, ""):
                sources[variable] = source
                return value
        return None

    backups, audit = pick("backups_bucket"), pick("audit_logs_bucket")
    if backups is None and audit is None:
        return None
    if backups is None or audit is None:
        have, lack = ("backups", "audit_logs") if backups else ("audit_logs", "backups")
        raise ConfigError(
            f"Sponsor {sponsor}'s second copy names a {have.replace('_', ' ')} bucket but no "
            f"{lack.replace('_', ' ')} bucket; set {bound.variable(f'copy2_{lack}_bucket')} too (each copy "
            "keeps its backups and its own chain of logs), or unset the other to archive one copy."
        )
    validate_bucket(backups, bound.variable("copy2_backups_bucket"), sponsor)
    validate_bucket(audit, bound.variable("copy2_audit_logs_bucket"), sponsor)
    name = pick("name") or DEFAULT_NAME
    if not _NAME_RE.fullmatch(name) or name == PRIMARY:
        raise ConfigError(
            f"Sponsor {sponsor}'s second copy is named {name!r}; use lowercase letters, digits and hyphens "
            f"(not {PRIMARY!r}), e.g. dr-us-east-1, in {bound.variable('copy2_name')}."
        )
    endpoint = pick("endpoint_url")
    if endpoint and urlsplit(endpoint).scheme not in ("http", "https"):
        raise ConfigError(
            f"Sponsor {sponsor}'s second copy endpoint {endpoint!r} is not an http(s) URL; set "
            f"{bound.variable('copy2_endpoint_url')} to e.g. https://s3.eu-central-003.backblazeb2.com."
        )
    if not endpoint and {backups, audit} & {first["backups_bucket"], first["audit_logs_bucket"]}:
        raise ConfigError(
            f"Sponsor {sponsor}'s second copy uses a bucket of the first copy; give it buckets of its own "
            f"({bound.variable('copy2_backups_bucket')}), in another region or account."
        )
    credentials, sources["copy2_aws_identity"] = _identity(sponsor, blk, bound, endpoint, first)
    return SecondCopy(
        name=name,
        region=pick("region") or first["region"],
        backups_bucket=backups,
        audit_logs_bucket=audit,
        endpoint_url=endpoint,
        sse_kms_key_id=pick("sse_kms_key_id"),
        aws_credentials=credentials,
        sources=sources,
    )


def _identity(sponsor: str, blk: Any, bound: BoundEnvironment, endpoint: str | None, first: dict[str, Any]):
    """Its own identity (block, then its prefixed keys), else the first copy's; never the first copy's keys
    sent to another provider's endpoint."""
    block_credentials = getattr(blk, "copy2_credentials", None)
    if block_credentials is not None:
        return block_credentials, blk.copy2_credentials_source
    for prefix in bound.prefixes:
        keys = prefixed_keys(sponsor, prefix + KEY_PREFIX)
        if keys is not None:
            return keys, keys.source
    if endpoint:
        prefix = bound.prefixes[0] + KEY_PREFIX
        raise ConfigError(
            f"Sponsor {sponsor}'s second copy is at another provider ({urlsplit(endpoint).netloc}) but "
            f"has no identity of its own; set {prefix}AWS_ACCESS_KEY_ID and "
            f"{prefix}AWS_SECRET_ACCESS_KEY (or {prefix}AWS_PROFILE), so the first copy's keys are "
            "never sent there."
        )
    return first["aws_credentials"], f"the first copy's ({first['identity_source']})"


def at_copy(config, copy: int | str = 1):
    """``config`` at copy 1 (itself) or 2 (the second destination); one sentence if it has none."""
    if copy in (1, "1", PRIMARY, None):
        return config
    second = config.second
    if second is None or copy not in (2, "2", second.name):
        raise ConfigError(_no_such_copy(config, copy))
    return dataclasses.replace(
        config,
        region=second.region,
        backups_bucket=second.backups_bucket,
        audit_logs_bucket=second.audit_logs_bucket,
        endpoint_url=second.endpoint_url,
        sse_kms_key_id=second.sse_kms_key_id,
        aws_credentials=second.aws_credentials,
        copy_name=second.name,
        second=None,
        sources={**config.sources, **second.sources},
    )


def _no_such_copy(config, copy: int | str) -> str:
    if config.second is None:
        return (
            f"Sponsor {config.sponsor} has no second copy; set its ARCHIVAL_COPY2_BACKUPS_BUCKET and "
            "ARCHIVAL_COPY2_AUDIT_LOGS_BUCKET (README: a second copy), or leave --copy out."
        )
    return (
        f"Sponsor {config.sponsor} has no copy {copy!r}; use --copy 1 ({PRIMARY}) or --copy 2 "
        f"({config.second.name})."
    )
