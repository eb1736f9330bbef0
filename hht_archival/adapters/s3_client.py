"""S3 clients: one per region, credentials and AWS environment, with botocore retrying what may pass.

Contract: ``make_client`` builds nothing but a client (no request is made);
``client_for`` is the same for one sponsor's configuration, with a failure to
build it (a profile that is not there) translated like any S3 call's
(s3_errors.py). Transient failures (throttling, 5xx, resets) are retried by
botocore's standard mode inside every call, never by the callers. ``identify``
is the one call that asks AWS who the credentials are, for doctor.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from hht_archival.adapters.s3_errors import S3_ERRORS, translated


def _client_config() -> Config:
    """botocore's standard retry mode (5 attempts, or AWS_MAX_ATTEMPTS), and no second payload hash.

    Every body we send carries its own checksum header (SHA-256, or CRC32 for
    parts), which is signed and which S3 verifies; over HTTPS botocore then
    skips hashing the payload for the signature, and
    ``payload_signing_enabled=False`` makes plain-HTTP endpoints (MinIO, moto)
    behave the same instead of hashing every byte once more.
    """
    attempts = int(os.environ.get("AWS_MAX_ATTEMPTS") or 5)
    return Config(
        retries={"mode": "standard", "total_max_attempts": attempts},
        connect_timeout=10,
        read_timeout=120,
        s3={"payload_signing_enabled": False},
    )


def make_client(region: str, credentials: Any = None, endpoint_url: str | None = None):
    """An S3 client: from a prefect-aws AwsCredentials block, a sponsor's own keys, else boto3's chain.

    boto3's chain reads keys, profiles and roles, and ``AWS_ENDPOINT_URL`` /
    ``AWS_ENDPOINT_URL_S3`` for S3-compatible servers, so nothing here re-implements it.
    A block's client gets the same retry and signing settings as any other;
    what the block's own client parameters set (endpoint, a botocore config) wins.
    A process reuses a client for the same region, the same credentials object
    and the same AWS environment: building one loads botocore's service model
    (about 60 ms here), and a run used to do it once per step. ``endpoint_url``
    (a second copy at another provider: blocks/second_copy.py) wins over the environment's.
    """
    environment = tuple(os.environ.get(name) for name in _CLIENT_ENVIRONMENT)
    key = (region, id(credentials), endpoint_url, environment)
    with _clients_lock:
        if key not in _clients:  # the credentials object is kept with its client, so its id stays its own
            _clients[key] = (credentials, _build_client(region, credentials, endpoint_url))
        return _clients[key][1]


_CLIENT_ENVIRONMENT = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_MAX_ATTEMPTS",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CA_BUNDLE",
)
_clients: dict[tuple, tuple[Any, Any]] = {}
_clients_lock = threading.Lock()


def _build_client(region: str, credentials: Any, endpoint_url: str | None = None):
    endpoint = {"endpoint_url": endpoint_url} if endpoint_url else {}
    if credentials is None:
        return boto3.session.Session(region_name=region).client("s3", config=_client_config(), **endpoint)
    if not hasattr(credentials, "aws_client_parameters"):  # a sponsor's own keys (blocks/binding.AwsKeys)
        return credentials.get_boto3_session(region).client("s3", config=_client_config(), **endpoint)
    params = {**credentials.aws_client_parameters.get_params_override(), **endpoint}
    config = _client_config().merge(params.pop("config")) if "config" in params else _client_config()
    session = credentials.get_boto3_session()
    return session.client("s3", region_name=session.region_name or region, config=config, **params)


def client_for(config):
    """The S3 client of one sponsor's configuration (``region``, ``aws_credentials``, ``sponsor``)."""
    with translated(config.sponsor, "building its S3 client"):
        return make_client(config.region, config.aws_credentials, getattr(config, "endpoint_url", None))


@dataclass(frozen=True)
class Identity:
    """Whom AWS takes a sponsor's credentials for; ``arn`` None where the endpoint has no STS."""

    arn: str | None
    sts_error: str | None = None  # why STS did not answer, when S3 accepted the credentials instead


def identify(config) -> Identity:
    """Ask STS whose the credentials are; where the endpoint has none (some S3-compatible servers),
    check that S3 accepts them with a harmless listing. Raises the translated error if S3 refuses too."""
    credentials, endpoint = config.aws_credentials, getattr(config, "endpoint_url", None)
    try:
        if endpoint:  # another provider's endpoint: no AWS STS to ask there
            raise ValueError("no STS at a custom endpoint")
        session = credentials.get_boto3_session() if credentials else boto3.session.Session()
        return Identity(session.client("sts", region_name=config.region).get_caller_identity()["Arn"])
    except (*S3_ERRORS, ValueError) as exc:
        sts_error = type(exc).__name__
    with translated(config.sponsor, "checking credentials"):
        make_client(config.region, credentials, endpoint).list_buckets()
    return Identity(None, sts_error)
