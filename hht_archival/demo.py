"""``hht-archival demo``: the enabled path end to end on one machine, with no cloud account.

An S3 server (moto) on a free loopback port stands in for AWS, with the
sponsor's two buckets set up as the seed requires; the local PostgreSQL (or
DATABASE_URL) is archived; then everything that landed is shown and the
backup is downloaded and checked against its recorded SHA-256.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import click

from hht_archival.errors import ArchivalError, ConfigError

DEFAULT_DEMO_DATABASE = "postgresql://postgres@127.0.0.1:5432/postgres"
REGION = "eu-west-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _check_database(url: str) -> None:
    from hht_archival.adapters import pg_admin

    try:
        pg_admin.probe(url)
    except ArchivalError as exc:
        raise ConfigError(
            f"The demo cannot reach PostgreSQL: {exc}; start PostgreSQL "
            "or set DATABASE_URL to a database it may dump."
        ) from None


def _prepare_buckets(client, names: list[str]) -> None:
    """Create the buckets exactly as ``hht-archival provision`` would (what ``doctor`` checks)."""
    from hht_archival.provision import plan_bucket

    for name in names:
        for change in plan_bucket(client, name, REGION):
            change.apply()


def run_demo(database_url: str | None, sponsor: str, out_dir: Path) -> int:
    from moto.server import ThreadedMotoServer

    from hht_archival.adapters import s3, s3_objects
    from hht_archival.adapters.codecs import sha256_of
    from hht_archival.naming import (
        default_audit_logs_bucket,
        default_backups_bucket,
        split_location,
        validate_sponsor,
    )

    validate_sponsor(sponsor)
    url = database_url or DEFAULT_DEMO_DATABASE
    _check_database(url)
    backups = default_backups_bucket(sponsor, REGION)
    audit = default_audit_logs_bucket(sponsor, REGION)

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        # The demo's S3 is local: point boto3 at it with throwaway keys, in this process only.
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "demo",
                "AWS_SECRET_ACCESS_KEY": "demo",
                "AWS_EC2_METADATA_DISABLED": "true",
                "SPONSOR": sponsor,  # the demo's unprefixed settings below are bound to its sponsor
                "DATABASE_URL": url,
                "SPONSOR_AWS_REGION": REGION,
                "SPONSOR_BACKUPS_BUCKET": backups,
                "SPONSOR_AUDIT_LOGS_BUCKET": audit,
            }
        )
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.pop("AWS_PROFILE", None)
        client = s3.make_client(REGION)
        _prepare_buckets(client, [backups, audit])
        click.echo(f"S3 server on {endpoint} with buckets {backups} and {audit}.")

        from flows.archive_sponsor import archive_sponsor

        result = archive_sponsor(
            sponsor=sponsor, environment="dev", enabled=True, log_dir=str(out_dir / "deployment-logs")
        )
        _, backup_key = split_location(result["backup_location"])
        _, log_key = split_location(result["log_location"])
        out_dir.mkdir(parents=True, exist_ok=True)
        copy = out_dir / Path(backup_key).name
        with copy.open("wb") as out:
            for chunk in s3_objects.chunks(client, backups, backup_key, sponsor):
                out.write(chunk)
        matches = sha256_of(copy) == result["backup_sha256"]

        click.echo("\nWhere everything landed:")
        for bucket, key in ((backups, backup_key), (audit, log_key)):
            head = s3_objects.head(client, bucket, key, sponsor)
            tags = s3_objects.get_tags(client, bucket, key, sponsor) or {}
            click.echo(f"  s3://{bucket}/{key}")
            click.echo(f"    {head.size} bytes, encryption {head.encryption}")
            click.echo("    tags: " + ", ".join(f"{name}={value}" for name, value in sorted(tags.items())))
        click.echo(f"  local log: {result['local_log']}")
        click.echo(f"  downloaded copy: {copy} (sha256 {'matches' if matches else 'DOES NOT MATCH'} the log)")
        click.echo(f"\nTry: gunzip -c {copy} | head -30")
        click.echo("The S3 server lived in this process; its objects are gone now, the copies above remain.")
        return 0 if matches else 1
    finally:
        server.stop()
