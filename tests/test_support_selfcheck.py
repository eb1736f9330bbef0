"""Self-checks for tests/support: if these fail, failures elsewhere are not about the flow."""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest
from botocore.exceptions import ClientError

from tests.support.faultproxy import FaultyS3Proxy, is_put_object, is_upload_part
from tests.support.pgcluster import (
    NON_ASCII_NOTE,
    SEED_ROW_COUNTS,
    ThrowawayCluster,
    available_postgres_url,
    can_connect,
    create_database,
    drop_database,
    find_pg_bindir,
    row_counts,
    seed_diary_database,
    table_snapshot,
)
from tests.support.s3server import MotoS3, list_keys, open_multipart_uploads, s3_client

PASSWORD = "pä$$ w0rd:/@?"  # URL-hostile on purpose


@pytest.fixture(scope="module")
def moto_s3():
    with MotoS3() as server:
        yield server


@pytest.fixture
def s3(moto_s3):
    moto_s3.reset()
    moto_s3.make_buckets("hht-backups", "hht-audit")
    return moto_s3


@pytest.mark.skipif(find_pg_bindir() is None, reason="PostgreSQL server binaries not installed")
def test_throwaway_cluster_scram_password():
    with ThrowawayCluster(auth="scram-sha-256", password=PASSWORD) as pg:
        assert PASSWORD not in pg.url()
        with psycopg.connect(pg.url(password=PASSWORD), connect_timeout=5) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(pg.url(password="wrong"), connect_timeout=5)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(pg.url(), connect_timeout=5)
        assert not (pg.tmpdir / "pwfile").exists()

        port = pg.port
        pg.restart()
        assert pg.port == port
        assert can_connect(pg.url(password=PASSWORD))
        tmpdir = pg.tmpdir
    assert not tmpdir.exists()


def test_put_object_through_proxy(s3):
    with FaultyS3Proxy(s3.endpoint) as proxy:
        client = s3_client(proxy.endpoint)
        client.put_object(Bucket="hht-backups", Key="a/b.sql.gz", Body=b"x" * 1000)
        head = client.head_object(Bucket="hht-backups", Key="a/b.sql.gz")
        assert head["ContentLength"] == 1000
        assert head["ServerSideEncryption"] == "AES256"
        assert client.get_object(Bucket="hht-backups", Key="a/b.sql.gz")["Body"].read() == (b"x" * 1000)
        assert list_keys(client, "hht-backups") == ["a/b.sql.gz"]
        assert any(is_put_object(*req) for req in proxy.requests)

        proxy.fail(is_put_object, status=503, code="SlowDown", times=1)
        client.put_object(Bucket="hht-backups", Key="retried", Body=b"y")  # retry succeeds
        assert proxy.injected == 1
    assert list_keys(s3.client(), "hht-backups") == ["a/b.sql.gz", "retried"]


def test_upload_part_failure_is_client_error(s3):
    with FaultyS3Proxy(s3.endpoint) as proxy:
        proxy.fail(is_upload_part, times=None)
        client = s3_client(proxy.endpoint, max_attempts=2)
        upload = client.create_multipart_upload(Bucket="hht-backups", Key="big.gz")
        with pytest.raises(ClientError) as excinfo:
            client.upload_part(
                Bucket="hht-backups",
                Key="big.gz",
                UploadId=upload["UploadId"],
                PartNumber=1,
                Body=b"\0" * (5 * 1024 * 1024),
            )
        assert excinfo.value.response["Error"]["Code"] == "InternalError"
        assert proxy.injected == 3  # first try + max_attempts=2 retries; none forwarded
        assert [u["Key"] for u in open_multipart_uploads(client, "hht-backups")] == ["big.gz"]


def test_seeded_database_snapshot():
    admin_url = available_postgres_url()
    if not can_connect(admin_url):
        pytest.skip(f"no PostgreSQL at {admin_url} (set TEST_DATABASE_URL)")
    name = f"hht_selfcheck_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    url = create_database(admin_url, name)
    try:
        assert seed_diary_database(url) == SEED_ROW_COUNTS
        assert row_counts(url) == SEED_ROW_COUNTS
        snapshot = table_snapshot(url)
        assert {t: len(rows) for t, rows in snapshot.items()} == SEED_ROW_COUNTS
        assert any(NON_ASCII_NOTE in row[0] for row in snapshot["diary_entries"])
        assert table_snapshot(url) == snapshot
    finally:
        drop_database(admin_url, name)
    assert not can_connect(url)
