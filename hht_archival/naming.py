"""Names and keys: the one place that decides what is called what, in S3 and on disk, and reads keys back.

Every name that reaches a path or an S3 key is validated here first, so a
hostile sponsor or environment name can never escape a prefix or a directory.
Keys are built (``RunNames``) and parsed (``parse_key``) here only: the
catalogue, the restore, the hash chain and the IAM policy all ask this module,
so changing the scheme means editing one file.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from hht_archival.errors import ConfigError

Environment = Literal["production", "staging", "dev"]
"""The accepted DEPLOYMENT_ENVIRONMENT values, as a type: the UI's drop-down and the manifest use it."""
ENVIRONMENT_KEYS: dict[str, str] = dict(zip(get_args(Environment), ("prod", "staging", "dev"), strict=True))
"""Each environment and the short form used in keys (the seed's ``prod``)."""

RETENTION_YEARS = 7
BACKUPS_PREFIX = "backups/"
DEPLOYMENT_LOGS_PREFIX = "deployments/"
DRILLS_PREFIX = "drills/"
DOCTOR_PREFIX = "doctor/"
EVIDENCE_PREFIX = "evidence/"
BACKUP_EXTENSIONS = ("sql.gz", "sql.zst", "dump")  # the formats of adapters/codecs.py, by extension
ROLES_EXTENSION = "roles.json"
_ENVIRONMENTS_BY_KEY = {short: name for name, short in ENVIRONMENT_KEYS.items()}
_KEY_RE = re.compile(
    rf"^(?P<prefix>{re.escape(BACKUPS_PREFIX)}|{re.escape(DEPLOYMENT_LOGS_PREFIX)})"
    r"(?P<day>\d{4}/\d{2}/\d{2})/(?:backup|deployment)-(?P<env>[a-z]+)-(?P<stamp>\d{8}-\d{6})\."
    rf"(?P<ext>{'|'.join(re.escape(e) for e in (ROLES_EXTENSION, *BACKUP_EXTENSIONS, 'json'))})$"
)

_DRILL_KEY_RE = re.compile(
    rf"^{re.escape(DRILLS_PREFIX)}\d{{4}}/\d{{2}}/\d{{2}}/drill-(?P<env>[a-z]+)-(?P<stamp>\d{{8}}-\d{{6}})\.json$"
)

_SPONSOR_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def validate_sponsor(name: str) -> str:
    """Return ``name`` if it is a valid sponsor name, else raise a one-sentence ConfigError."""
    if not isinstance(name, str) or not _SPONSOR_RE.fullmatch(name):
        raise ConfigError(
            f"Sponsor name {name!r} is invalid: use 1-40 lowercase letters, digits and "
            "hyphens, starting and ending with a letter or digit (for example SPONSOR=callisto)."
        )
    return name


def validate_environment(name: str, sponsor: str) -> str:
    """Return ``name`` if it is a known deployment environment."""
    if name not in ENVIRONMENT_KEYS:
        accepted = ", ".join(ENVIRONMENT_KEYS)
        raise ConfigError(
            f"DEPLOYMENT_ENVIRONMENT={name!r} for sponsor {sponsor} is not one of {accepted}; "
            "set it to one of those."
        )
    return name


def validate_bucket(name: str, setting: str, sponsor: str) -> str:
    """Check ``name`` against S3's bucket naming rules before any request is made."""
    problem = _bucket_problem(name)
    if problem:
        raise ConfigError(
            f"{setting}={name!r} for sponsor {sponsor} is not a valid S3 bucket name ({problem}); "
            "use 3-63 lowercase letters, digits, dots and hyphens, e.g. "
            f"hht-diary-backups-{sponsor}-eu-west-1."
        )
    return name


def _bucket_problem(name: str) -> str | None:
    if not isinstance(name, str) or not 3 <= len(name) <= 63:
        return "it must be 3 to 63 characters long"
    if not _BUCKET_RE.fullmatch(name):
        return "only lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit"
    if ".." in name or ".-" in name or "-." in name:
        return "dots may not be adjacent to each other or to a hyphen"
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        pass
    else:
        return "it must not look like an IP address"
    for prefix in ("xn--", "sthree-", "amzn-s3-demo-"):
        if name.startswith(prefix):
            return f"it must not start with {prefix}"
    for suffix in ("-s3alias", "--ol-s3", "--x-s3", "--table-s3"):
        if name.endswith(suffix):
            return f"it must not end with {suffix}"
    return None


def default_backups_bucket(sponsor: str, region: str) -> str:
    return f"hht-diary-backups-{sponsor}-{region}"


def default_audit_logs_bucket(sponsor: str, region: str) -> str:
    return f"hht-diary-audit-logs-{sponsor}-{region}"


def chain_head_key(environment: str) -> str:
    """The small object that names the newest deployment log of ``environment`` (audit_chain.py).

    Under ``deployments/`` (the archival role writes and reads there) but outside
    its ``YYYY/`` folders, so no listing of logs mistakes it for one.
    """
    return f"{DEPLOYMENT_LOGS_PREFIX}chain-head-{ENVIRONMENT_KEYS[environment]}.json"


def end_of_day(day: str) -> datetime:
    """Midnight UTC after ``day`` (YYYY-MM-DD): a retention "until" that date keeps the whole day."""
    return datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=1)


def add_years(moment: datetime, years: int) -> datetime:
    """Return ``moment`` ``years`` later; 29 February falls back to 28 February."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


@dataclass(frozen=True)
class RunNames:
    """Every key and file name of one run, derived from one UTC timestamp.

    One timestamp per run means the backup, the S3 log and the local log of a
    run always share the same ``YYYYMMDD-HHMMSS`` and can be matched by eye.
    """

    sponsor: str
    environment: str
    moment: datetime
    extension: str = "sql.gz"

    @classmethod
    def now(cls, sponsor: str, environment: str, extension: str = "sql.gz") -> RunNames:
        return cls(sponsor, environment, datetime.now(UTC).replace(microsecond=0), extension)

    @property
    def env_key(self) -> str:
        return ENVIRONMENT_KEYS[self.environment]

    @property
    def stamp(self) -> str:
        return self.moment.strftime("%Y%m%d-%H%M%S")

    @property
    def day_prefix(self) -> str:
        return self.moment.strftime("%Y/%m/%d")

    @property
    def backup_key(self) -> str:
        return f"{BACKUPS_PREFIX}{self.day_prefix}/backup-{self.env_key}-{self.stamp}.{self.extension}"

    @property
    def roles_key(self) -> str:
        """The roles the backup's objects refer to, beside the backup (pg_dump leaves them out)."""
        return f"{BACKUPS_PREFIX}{self.day_prefix}/backup-{self.env_key}-{self.stamp}.{ROLES_EXTENSION}"

    @property
    def log_key(self) -> str:
        return f"{DEPLOYMENT_LOGS_PREFIX}{self.day_prefix}/deployment-{self.env_key}-{self.stamp}.json"

    @property
    def chain_head_key(self) -> str:
        return chain_head_key(self.environment)

    @property
    def log_filename(self) -> str:
        return f"deployment-{self.env_key}-{self.stamp}.json"

    @property
    def retain_until(self) -> str:
        return add_years(self.moment, RETENTION_YEARS).date().isoformat()

    @property
    def drill_key(self) -> str:
        return f"{DRILLS_PREFIX}{self.day_prefix}/drill-{self.env_key}-{self.stamp}.json"

    def evidence_key(self, first: str, last: str, extension: str) -> str:
        """An evidence report on the days ``first`` to ``last`` (YYYYMMDD), made at this moment."""
        name = f"evidence-{self.env_key}-{first}-{last}-{self.stamp}.{extension}"
        return f"{EVIDENCE_PREFIX}{self.day_prefix}/{name}"

    def retention_tags(self, data_class: str, sha256: str | None = None) -> dict[str, str]:
        """The tags a 7-year retention policy and an auditor select on, for an object of this run."""
        tags = {
            "retention-years": str(RETENTION_YEARS),
            "retain-until": self.retain_until,
            "sponsor": self.sponsor,
            "environment": self.environment,
            "data-class": data_class,
        }
        if sha256:
            tags["sha256"] = sha256
        return tags

    @property
    def timestamp(self) -> str:
        return self.moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class ParsedKey:
    """What a key of ours says: which object (backup, roles, log), of which run."""

    kind: str  # backup | roles | log
    env_key: str  # prod | staging | dev
    stamp: str  # YYYYMMDD-HHMMSS
    extension: str

    def names(self) -> RunNames:
        """The run's other names: the same timestamp names its backup, roles object and log."""
        moment = datetime.strptime(self.stamp, "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
        extension = self.extension if self.extension in BACKUP_EXTENSIONS else "sql.gz"
        return RunNames("", _ENVIRONMENTS_BY_KEY[self.env_key], moment, extension)


def split_location(location: str) -> tuple[str, str]:
    """``s3://bucket/key`` as (bucket, key): how the JSON log records where an object is."""
    bucket, _, key = location.removeprefix("s3://").partition("/")
    return bucket, key


def backup_extension(location: str | None) -> str:
    """The backup format a key or ``s3://`` location ends with (sql.gz, sql.zst, dump), or ""."""
    return next((e for e in BACKUP_EXTENSIONS if (location or "").endswith("." + e)), "")


def parse_key(key: str) -> ParsedKey | None:
    """The run and object a key names; None for a key this scheme did not write (a chain head, a probe)."""
    match = _KEY_RE.match(key)
    if match is None or match["env"] not in _ENVIRONMENTS_BY_KEY:
        return None
    if match["prefix"] == DEPLOYMENT_LOGS_PREFIX:
        kind = "log" if match["ext"] == "json" else ""
    else:
        kind = "roles" if match["ext"] == ROLES_EXTENSION else "backup" if match["ext"] != "json" else ""
    return ParsedKey(kind, match["env"], match["stamp"], match["ext"]) if kind else None


def parse_drill_key(key: str) -> ParsedKey | None:
    """The run a drill report's key names (``drills/.../drill-prod-{stamp}.json``); None for any other key."""
    match = _DRILL_KEY_RE.match(key)
    if match is None or match["env"] not in _ENVIRONMENTS_BY_KEY:
        return None
    return ParsedKey("drill", match["env"], match["stamp"], "json")


def log_key_for(backup_key: str) -> str:
    """The deployment log written by the run that wrote ``backup_key`` (same day and timestamp)."""
    parsed = parse_key(backup_key)
    if parsed is None:
        raise ValueError(f"{backup_key} is not a key this tool writes")
    return parsed.names().log_key


def roles_key_for(backup_key: str) -> str:
    """The roles object archived beside ``backup_key`` (same run, same timestamp)."""
    parsed = parse_key(backup_key)
    if parsed is None:
        raise ValueError(f"{backup_key} is not a key this tool writes")
    return parsed.names().roles_key
