"""A real HTTP S3 endpoint (moto's threaded server) for tests.

Why: the flow talks to S3 through boto3 clients it builds itself (and through ``pg_dump``
subprocess pipelines), so in-process ``mock_aws`` patching is not enough -- the code under test
must reach an actual endpoint over TCP, and so must the fault-injecting proxy placed in front of
it. Binding to port 0 avoids port races between parallel test runs.

Note: moto keeps its state in process-global backends; ``reset()`` clears all of it, including
anything an in-process ``mock_aws`` in the same test session created.
"""

from __future__ import annotations

import http.client
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer

REGION = "eu-west-1"
DUMMY_KEY = "testing"

# Variables that would make boto3 ignore or misroute the test endpoint/credentials; remove
# them from the environment of anything pointed at the test server (see patch_aws_env).
AWS_ENV_UNSET = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_STS",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT",
)


def aws_env(endpoint: str) -> dict[str, str]:
    """Environment variables that point boto3 (in-process or in a subprocess) at ``endpoint``.

    Also remove the names in ``AWS_ENV_UNSET`` from that environment: a leftover profile,
    session token or service-specific endpoint would otherwise take precedence.
    """
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": DUMMY_KEY,
        "AWS_SECRET_ACCESS_KEY": DUMMY_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def patch_aws_env(monkeypatch: Any, endpoint: str) -> None:
    """Apply ``aws_env(endpoint)`` and drop ``AWS_ENV_UNSET`` via a pytest ``monkeypatch``."""
    for name in AWS_ENV_UNSET:
        monkeypatch.delenv(name, raising=False)
    for name, value in aws_env(endpoint).items():
        monkeypatch.setenv(name, value)


def s3_client(endpoint: str, *, region: str = REGION, max_attempts: int | None = None) -> Any:
    """A boto3 S3 client for ``endpoint`` with dummy credentials and path-style addressing.

    ``max_attempts`` sets botocore's ``retries={"max_attempts": n, "mode": "standard"}``; in
    botocore that counts retries *after* the first try, so n=2 means up to 3 requests.
    """
    options: dict[str, Any] = {"s3": {"addressing_style": "path"}}
    if max_attempts is not None:
        options["retries"] = {"max_attempts": max_attempts, "mode": "standard"}
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=DUMMY_KEY,
        aws_secret_access_key=DUMMY_KEY,
        config=Config(**options),
    )


class MotoS3:
    """moto's S3 server on 127.0.0.1:<free port>, for the duration of a ``with`` block."""

    def __init__(self) -> None:
        self._server: ThreadedMotoServer | None = None
        self.port: int = 0
        self.endpoint: str = ""

    def __enter__(self) -> MotoS3:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        _, self.port = self._server.get_host_and_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        return self

    def __exit__(self, *exc_info: object) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()
            inner = getattr(server, "_server", None)  # stop() leaves the socket open
            if inner is not None:
                inner.server_close()

    def client(self, *, max_attempts: int | None = None) -> Any:
        return s3_client(self.endpoint, max_attempts=max_attempts)

    def reset(self) -> None:
        """Forget every bucket and object (moto's ``/moto-api/reset``)."""
        parts = urlsplit(self.endpoint)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            conn.request("POST", "/moto-api/reset", body=b"")
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise RuntimeError(f"moto reset failed: HTTP {resp.status}")
        finally:
            conn.close()

    def make_buckets(self, *names: str, region: str = REGION) -> None:
        """Create versioned buckets with default SSE-S3 (AES256) encryption."""
        client = s3_client(self.endpoint, region=region)
        for name in names:
            if region == "us-east-1":
                client.create_bucket(Bucket=name)
            else:
                client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            client.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
            )

    def make_locked_buckets(self, *names: str, years: int = 7, region: str = REGION) -> None:
        """Create buckets with Object Lock (compliance, ``years``), as provision --object-lock does."""
        client = s3_client(self.endpoint, region=region)
        for name in names:
            client.create_bucket(
                Bucket=name,
                CreateBucketConfiguration={"LocationConstraint": region},
                ObjectLockEnabledForBucket=True,  # versioning comes with it
            )
            client.put_object_lock_configuration(
                Bucket=name,
                ObjectLockConfiguration={
                    "ObjectLockEnabled": "Enabled",
                    "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": years}},
                },
            )


def list_keys(client: Any, bucket: str) -> list[str]:
    """All current object keys in ``bucket``, sorted (paginates)."""
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return sorted(keys)


def open_multipart_uploads(client: Any, bucket: str) -> list[dict]:
    """Multipart uploads started but neither completed nor aborted (should be [] after a run)."""
    uploads: list[dict] = []
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        uploads.extend(page.get("Uploads", []))
    return uploads
