"""Shared fixtures: a real PostgreSQL, an S3 server on loopback behind a fault proxy, Prefect APIs.

Every test gets a clean environment: none of the archival variables leak in
from the developer's shell, logs go to a temp directory, retries are quick.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.support.faultproxy import FaultyS3Proxy
from tests.support.pgcluster import (
    ThrowawayCluster,
    available_postgres_url,
    can_connect,
    create_database,
    drop_database,
    find_pg_bindir,
    seed_diary_database,
)
from tests.support.s3server import AWS_ENV_UNSET, MotoS3, aws_env, s3_client

# Offline, Prefect's telemetry only produces errors; servers started by fixtures inherit this.
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"

# The files that take longest (1.5-2.5 minutes each, on the 2-core machine), collected first: with
# `--dist loadfile --no-loadscope-reorder` (bin/test) xdist hands files to its workers in collection
# order, so one of these collected last would run alone at the end while the other workers sit idle.
LONGEST_FIRST = ("test_deployments.py", "test_lost_worker.py", "test_alerts.py", "test_stopping.py")


def pytest_collection_modifyitems(items) -> None:
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


SPONSOR = "titan"
BACKUPS = "hht-diary-backups-titan-eu-west-1"
AUDIT = "hht-diary-audit-logs-titan-eu-west-1"
# The task runs of one enabled run, as the UI lists them (suffixed "-{sponsor}-{environment}").
ARCHIVE_TASKS = ("check_flag", "stream", "dump", "compress", "upload", "tag", "roles", "write_log")

ARCHIVAL_VARIABLES = (
    "ENABLE_S3_BACKUP_ARCHIVAL",
    "SPONSOR",
    "DEPLOYMENT_ENVIRONMENT",
    "SPONSOR_AWS_REGION",
    "SPONSOR_BACKUPS_BUCKET",
    "SPONSOR_AUDIT_LOGS_BUCKET",
    "DATABASE_URL",
    "ARCHIVAL_LOG_DIR",
    "ARCHIVAL_WORK_DIR",
    "ARCHIVAL_SSE_KMS_KEY_ID",
    "ARCHIVAL_TASK_RETRIES",
    "ARCHIVAL_RETRY_DELAY_SECONDS",
    "ARCHIVAL_PART_SIZE_MIB",
    "ARCHIVAL_UPLOAD_CONCURRENCY",
    "GITHUB_OUTPUT",
    "GITHUB_SHA",
    "GITHUB_ACTOR",
    "GITHUB_RUN_ID",
    "GITHUB_REPOSITORY",
    "GITHUB_SERVER_URL",
    "GITHUB_REF_NAME",
    "DEPLOYMENT_VERSION",
    "APP_VERSION",
    "PGPASSWORD",
    "PGPASSFILE",
    "PREFECT_API_URL",
    "ARCHIVAL_ROLE_PASSWORDS",
    "ARCHIVAL_TABLE_LOCK_WAIT_SECONDS",
    "ARCHIVAL_LOCK_TIMEOUT_SECONDS",
    "ARCHIVAL_LOCK_LEASE_SECONDS",
    "ARCHIVAL_DRILL_DATABASE_URL",
    "ARCHIVAL_WARM_START",
    "ARCHIVAL_PREFECT_DB_TEMPLATE",
    "ARCHIVAL_COPY2_NAME",
    "ARCHIVAL_COPY2_REGION",
    "ARCHIVAL_COPY2_ENDPOINT_URL",
    "ARCHIVAL_COPY2_BACKUPS_BUCKET",
    "ARCHIVAL_COPY2_AUDIT_LOGS_BUCKET",
    "ARCHIVAL_COPY2_SSE_KMS_KEY_ID",
    "ARCHIVAL_COPY2_AWS_ACCESS_KEY_ID",
    "ARCHIVAL_COPY2_AWS_SECRET_ACCESS_KEY",
    "ARCHIVAL_COPY2_AWS_SESSION_TOKEN",
    "ARCHIVAL_COPY2_AWS_PROFILE",
    "ARCHIVAL_SECOND_COPY_GRACE_SECONDS",
    "ARCHIVAL_SECOND_COPY_MAX_SLOWDOWN",
)


@pytest.fixture(scope="session")
def pg_admin_url():
    """A superuser URL: TEST_DATABASE_URL, the local server, or a throwaway cluster we start."""
    url = available_postgres_url()
    if can_connect(url):
        yield url
        return
    if os.environ.get("TEST_DATABASE_URL"):
        pytest.exit("TEST_DATABASE_URL is set but PostgreSQL does not answer there; start it or unset it.", 2)
    if find_pg_bindir() is None:
        pytest.exit(
            "No PostgreSQL server answers on 127.0.0.1:5432 and none is installed to start one; "
            "install PostgreSQL (apt-get install postgresql) or set TEST_DATABASE_URL.",
            2,
        )
    with ThrowawayCluster(auth="trust") as cluster:
        yield cluster.url()


@pytest.fixture
def make_seeded_db(pg_admin_url):
    """Make fresh databases with the diary schema and a few thousand rows; all dropped afterwards."""
    names = []

    def make() -> str:
        names.append(f"hht_test_{uuid.uuid4().hex[:10]}")
        url = create_database(pg_admin_url, names[-1])
        seed_diary_database(url)
        return url

    yield make
    for name in names:
        drop_database(pg_admin_url, name)


@pytest.fixture
def seeded_db(make_seeded_db):
    return make_seeded_db()


SCRAM_PASSWORD = "Hunter2-Secret:pw\\with@odd/chars"  # colon, backslash and URL characters on purpose


@pytest.fixture(scope="session")
def scram_cluster():
    """A throwaway cluster that really checks passwords (scram-sha-256), with a seeded `diary` database."""
    if find_pg_bindir() is None:
        pytest.skip("PostgreSQL server binaries are not installed")
    import psycopg

    with ThrowawayCluster(auth="scram-sha-256", password=SCRAM_PASSWORD) as cluster:
        with psycopg.connect(cluster.url(password=SCRAM_PASSWORD), autocommit=True) as conn:
            conn.execute("CREATE DATABASE diary")
        seed_diary_database(cluster.url("diary", password=SCRAM_PASSWORD))
        yield cluster


@pytest.fixture
def bulky_db(seeded_db):
    """The seeded database plus ~20 MB of poorly compressible text, so the upload needs several parts."""
    with psycopg.connect(seeded_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE attachments (id int PRIMARY KEY, data text)")
        conn.execute(
            "INSERT INTO attachments SELECT g, md5(g::text) || md5((g * 31)::text) "
            "FROM generate_series(1, 300000) AS g"
        )
    return seeded_db


@pytest.fixture
def empty_db(pg_admin_url):
    name = f"hht_restore_{uuid.uuid4().hex[:10]}"
    url = create_database(pg_admin_url, name)
    yield url
    drop_database(pg_admin_url, name)


@pytest.fixture(scope="session")
def moto_server():
    with MotoS3() as server:
        yield server


@pytest.fixture(scope="session")
def s3_proxy(moto_server):
    """Everything the code under test sends to S3 goes through here, so tests can count and break it."""
    with FaultyS3Proxy(moto_server.endpoint) as proxy:
        yield proxy


@pytest.fixture
def s3(moto_server, s3_proxy):
    """Empty S3 with titan's two buckets; a client that bypasses the proxy for checking results."""
    moto_server.reset()
    moto_server.make_buckets(BACKUPS, AUDIT)
    s3_proxy.clear()
    return s3_client(moto_server.endpoint)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path, s3_proxy):
    for name in ARCHIVAL_VARIABLES + AWS_ENV_UNSET:
        monkeypatch.delenv(name, raising=False)
    for name, value in aws_env(s3_proxy.endpoint).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ARCHIVAL_LOG_DIR", str(tmp_path / "logs"))
    # The unprefixed settings the tests set (DATABASE_URL, AWS keys...) are titan's, as titan's own
    # Doppler project would inject them; tests of other sponsors give them their own (TITAN_...).
    monkeypatch.setenv("SPONSOR", SPONSOR)
    monkeypatch.setenv("ARCHIVAL_WORK_DIR", str(tmp_path))
    monkeypatch.setenv("ARCHIVAL_TASK_RETRIES", "1")
    monkeypatch.setenv("ARCHIVAL_RETRY_DELAY_SECONDS", "0")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # botocore retries once: failure tests stay quick
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def prefect_harness():
    """Prefect's own test harness: a real API on SQLite, once per session.

    Its database starts as a copy of one already migrated (tests/support/prefectserver.py): the
    harness makes an empty one in a new temporary directory and spends most of its start (20 s
    and more on a busy machine, 5 s from the copy) migrating it.
    """
    import tempfile

    import prefect.testing.utilities as harness

    from tests.support.prefectserver import migrated_database

    def directory_with_a_migrated_database() -> str:
        directory = tempfile.mkdtemp()
        shutil.copy(migrated_database(), Path(directory) / "prefect-test.db")  # the harness's file name
        return directory

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(harness, "mkdtemp", directory_with_a_migrated_database)
        with harness.prefect_test_harness(server_startup_timeout=120):
            yield


@pytest.fixture(scope="session")
def chromium():
    """Headless Chromium's path: Debian's package, installed here where missing (as root with apt)."""
    from tests.support.browser import find_or_install_chromium

    found, why_not = find_or_install_chromium()
    if found is None:
        pytest.skip(why_not)
    return found


@pytest.fixture(scope="session")
def prefect_server(pg_admin_url):
    """The team's Prefect server for CLI runs and the fleet: `hht-archival server` on a PostgreSQL
    database of its own, as docs/prefect-server.md tells a platform team to run it."""
    from tests.support.prefectserver import PrefectServer

    with PrefectServer(postgres_admin_url=pg_admin_url) as server:
        yield server


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess:
    """Run the installed `hht-archival` console script as a user would, capturing its output."""
    script = Path(sys.executable).with_name("hht-archival")
    return subprocess.run(
        [str(script), *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def log_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("deployment-*.json"))
