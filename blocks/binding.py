"""Whose settings are whose: a sponsor's run reads only the environment variables bound to that sponsor.

Why: one worker often serves many sponsors. The seed's unprefixed variables
(DATABASE_URL, SPONSOR_BACKUPS_BUCKET, ENABLE_S3_BACKUP_ARCHIVAL, AWS_ACCESS_KEY_ID, ...)
are what one sponsor's Doppler project injects, so they belong to the one
sponsor ``SPONSOR`` names (callisto when unset) and to no other: a run for
titan that fell back to them would archive callisto's database into titan's
bucket. Any other sponsor reads its own prefixed names (TITAN_DATABASE_URL,
TITAN_AWS_ACCESS_KEY_ID, ...), or the prefix its manifest entry declares.
Blocks and the manifest are bound by name (blocks/config.py holds the order).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import boto3
from pydantic import SecretStr

from blocks.defaults import home_sponsor
from hht_archival.errors import ConfigError

# The setting -> the seed's variable name; a sponsor's own is the same name behind its prefix.
SPONSOR_VARIABLES = {
    "flag": "ENABLE_S3_BACKUP_ARCHIVAL",
    "database_url": "DATABASE_URL",
    "region": "SPONSOR_AWS_REGION",
    "backups_bucket": "SPONSOR_BACKUPS_BUCKET",
    "audit_logs_bucket": "SPONSOR_AUDIT_LOGS_BUCKET",
    "sse_kms_key_id": "ARCHIVAL_SSE_KMS_KEY_ID",
    "drill_database_url": "ARCHIVAL_DRILL_DATABASE_URL",  # its restore drills' scratch server
    # Its optional second destination (blocks/second_copy.py); its keys are ARCHIVAL_COPY2_AWS_*.
    "copy2_name": "ARCHIVAL_COPY2_NAME",
    "copy2_region": "ARCHIVAL_COPY2_REGION",
    "copy2_endpoint_url": "ARCHIVAL_COPY2_ENDPOINT_URL",
    "copy2_backups_bucket": "ARCHIVAL_COPY2_BACKUPS_BUCKET",
    "copy2_audit_logs_bucket": "ARCHIVAL_COPY2_AUDIT_LOGS_BUCKET",
    "copy2_sse_kms_key_id": "ARCHIVAL_COPY2_SSE_KMS_KEY_ID",
}
AWS_KEY_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")
MACHINE_IDENTITY = "the machine's (boto3's chain: instance or task role, ~/.aws)"


def own_prefix(sponsor: str) -> str:
    """A sponsor's own variable prefix: titan -> TITAN_, europa-2 -> EUROPA_2_."""
    return sponsor.upper().replace("-", "_") + "_"


@dataclass(frozen=True)
class AwsKeys:
    """Cloud credentials bound to one sponsor by its prefixed variables; secrets stay SecretStr."""

    source: str
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    profile: str | None = None

    def get_boto3_session(self, region: str | None = None) -> boto3.session.Session:
        """Named like prefect-aws's AwsCredentials method, so the S3 adapter builds clients from either."""
        if self.profile:
            return boto3.session.Session(profile_name=self.profile, region_name=region)
        return boto3.session.Session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=_reveal(self.secret_access_key),
            aws_session_token=_reveal(self.session_token),
            region_name=region,
        )


@dataclass(frozen=True)
class RefusedIdentity:
    """Stands where a sponsor's credentials would be when none are bound to it: any S3 client fails closed.

    Why not None: None means boto3's own chain, which would take the home
    sponsor's keys from the environment; every command that reaches S3 for
    this sponsor (run, list, restore, verify, provision) says the sentence instead.
    """

    sentence: str

    def get_boto3_session(self, region: str | None = None) -> boto3.session.Session:
        raise ConfigError(self.sentence)


def _reveal(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret else None


@dataclass(frozen=True)
class BoundEnvironment:
    """The environment as one sponsor may see it: each value with the variable it came from."""

    sponsor: str
    prefixes: tuple[str, ...]  # searched in order; "" is the unprefixed names, only for the home sponsor
    values: dict[str, tuple[str, str]] = field(default_factory=dict)  # setting -> (value, variable)

    def get(self, setting: str) -> str | None:
        found = self.values.get(setting)
        return found[0] if found else None

    def variable(self, setting: str) -> str:
        """The variable that set ``setting``, else the one the sponsor should set."""
        found = self.values.get(setting)
        return found[1] if found else self.prefixes[0] + SPONSOR_VARIABLES[setting]

    def source(self, setting: str) -> str | None:
        found = self.values.get(setting)
        return f"environment {found[1]}" if found else None


def drill_variable(bound: BoundEnvironment) -> str:
    """The variable that names ``bound``'s drill scratch server: the one set, else the one to set.

    The home sponsor is told the unprefixed ARCHIVAL_DRILL_DATABASE_URL, the
    name its Doppler project has always used; any other sponsor its own
    prefixed name, so a scratch server is never shared by accident.
    """
    found = bound.values.get("drill_database_url")
    return found[1] if found else bound.prefixes[-1] + SPONSOR_VARIABLES["drill_database_url"]


def bound_environment(sponsor: str, declared_prefix: str | None = None) -> BoundEnvironment:
    """Read ``sponsor``'s settings: a declared prefix only, else its own prefix, then (home only) none.

    An empty value counts as unset, as a deleted Doppler secret does.
    """
    if declared_prefix:
        prefixes: tuple[str, ...] = (declared_prefix,)
    elif sponsor == home_sponsor():
        prefixes = (own_prefix(sponsor), "")
    else:
        prefixes = (own_prefix(sponsor),)
    values = {}
    for setting, name in SPONSOR_VARIABLES.items():
        for prefix in prefixes:
            value = os.environ.get(prefix + name)
            if value is not None and value.strip():
                values[setting] = (value, prefix + name)
                break
    return BoundEnvironment(sponsor, prefixes, values)


def bound_aws_identity(
    bound: BoundEnvironment,
) -> tuple[AwsKeys | RefusedIdentity | None, str, str | None]:
    """The sponsor's own cloud identity: (keys, or None for boto3's chain; its source; a refusal or None).

    The refusal is a sentence for a sponsor with no identity of its own while the
    environment holds another sponsor's keys; its RefusedIdentity makes any S3 client fail with it.
    """
    for prefix in bound.prefixes:
        keys = prefixed_keys(bound.sponsor, prefix) if prefix else None
        if keys is not None:
            return keys, keys.source, None
    held = [name for name in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE") if os.environ.get(name, "").strip()]
    if bound.sponsor == home_sponsor():  # the unprefixed keys are its own: boto3's chain reads them
        return None, f"environment {held[0]}" if held else MACHINE_IDENTITY, None
    if held:
        prefix = bound.prefixes[0]
        sentence = (
            f"No AWS credentials are bound to sponsor {bound.sponsor}: {held[0]} belongs to sponsor "
            f"{home_sponsor()} (SPONSOR); {identity_remedy(bound.sponsor, prefix)}."
        )
        return RefusedIdentity(sentence), "none", sentence
    return None, MACHINE_IDENTITY, None


def identity_remedy(sponsor: str, prefix: str | None = None) -> str:
    """How to give ``sponsor`` a cloud identity of its own, as a clause: its keys, its profile or its block.

    The variables are behind ``prefix``; by default the sponsor's own, or the
    seed's unprefixed names for the home sponsor, whose Doppler project sets them.
    """
    if prefix is None:
        prefix = "" if sponsor == home_sponsor() else own_prefix(sponsor)
    return (
        f"set {prefix}AWS_ACCESS_KEY_ID and {prefix}AWS_SECRET_ACCESS_KEY (or {prefix}AWS_PROFILE), "
        f"or name an AwsCredentials block in {sponsor}'s sponsor block"
    )


def prefixed_keys(sponsor: str, prefix: str) -> AwsKeys | None:
    """The keys (or profile) behind ``prefix``; None if none are set, one sentence if half are."""
    found = {name: os.environ.get(prefix + name, "").strip() or None for name in AWS_KEY_VARIABLES}
    if found["AWS_PROFILE"]:
        return AwsKeys(source=f"environment {prefix}AWS_PROFILE", profile=found["AWS_PROFILE"])
    if not (found["AWS_ACCESS_KEY_ID"] or found["AWS_SECRET_ACCESS_KEY"]):
        return None
    if not (found["AWS_ACCESS_KEY_ID"] and found["AWS_SECRET_ACCESS_KEY"]):
        have, lack = (
            ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
            if found["AWS_ACCESS_KEY_ID"]
            else ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
        )
        raise ConfigError(
            f"{prefix}{have} is set for sponsor {sponsor} but {prefix}{lack} is not; set both "
            f"(or {prefix}AWS_PROFILE instead)."
        )
    token = found["AWS_SESSION_TOKEN"]
    return AwsKeys(
        source=f"environment {prefix}AWS_ACCESS_KEY_ID",
        access_key_id=found["AWS_ACCESS_KEY_ID"],
        secret_access_key=SecretStr(found["AWS_SECRET_ACCESS_KEY"]),
        session_token=SecretStr(token) if token else None,
    )


def no_database_refusal(sponsor: str, variable: str, enabled: bool = True) -> str:
    """Why a run of ``sponsor`` cannot archive: no database URL is bound to it (and whose is set).

    ``enabled`` False words it for doctor, which checks before the flag is on.
    """
    so = "archival is enabled, so" if enabled else "a run with archival enabled would stop here, so"
    if variable == "DATABASE_URL":
        return (
            f"DATABASE_URL is not set for sponsor {sponsor}; {so} set it "
            "(doppler secrets set DATABASE_URL=...) or name a Secret block in the sponsor block."
        )
    home, theirs = home_sponsor(), ""
    if os.environ.get("DATABASE_URL", "").strip():  # set, yet not read for this sponsor: say why
        theirs = (
            f" (DATABASE_URL is not read for it: its manifest entry declares the prefix "
            f"{variable.removesuffix('DATABASE_URL')})"
            if sponsor == home
            else f" (DATABASE_URL belongs to sponsor {home}, which SPONSOR names)"
        )
    return (
        f"No database URL is bound to sponsor {sponsor}{theirs}; {so} set {variable}, "
        f"or name a Secret block in {sponsor}'s sponsor block."
    )
