"""Restore and drills: the archive comes back identical, and a bad one never reaches the target."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from blocks.config import resolve_config
from hht_archival.catalogue import list_entries, log_key_for
from hht_archival.errors import ArchivalError, ConfigError
from hht_archival.restore import choose_backup, restore_backup
from tests.conftest import AUDIT, BACKUPS, run_cli
from tests.flowhelpers import read_artifact, run_flow
from tests.support.pgcluster import table_snapshot

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def archived(s3, seeded_db, monkeypatch):
    """One archived backup of the seeded database; returns (its log, the database's content then)."""
    monkeypatch.setenv("DATABASE_URL", seeded_db)
    original = table_snapshot(seeded_db)
    log, _ = run_flow(sponsor="titan", enabled=True)
    assert log["status"] == "archived"
    return log, original


def _tables(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchone()[0]


def test_a_restore_brings_back_every_row_as_archived(archived, seeded_db, empty_db, tmp_path):
    log, original = archived
    with psycopg.connect(seeded_db, autocommit=True) as conn:  # the database moves on after the backup
        conn.execute(
            "DELETE FROM diary_entries WHERE entry_id IN (SELECT entry_id FROM diary_entries LIMIT 100)"
        )
        conn.execute("UPDATE patients SET site_code = 'MOVED'")

    done = run_cli(
        "restore", "--sponsor", "titan", "--backup", "latest", env={"RESTORE_TARGET_URL": empty_db}
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"sha256 {log['backup_sha256']} verified before restore" in done.stdout
    assert table_snapshot(empty_db) == original
    assert table_snapshot(empty_db) != table_snapshot(seeded_db)


def test_a_corrupted_object_is_refused_before_any_statement_reaches_the_target(
    archived, s3, empty_db, tmp_path
):
    work = tmp_path / "work"
    work.mkdir()
    log, _ = archived
    key = log["backup_location"].split("/", 3)[3]
    stored = s3.get_object(Bucket=BACKUPS, Key=key)
    body = bytearray(stored["Body"].read())
    body[len(body) // 2] ^= 0x01  # one bit, mid-object
    tags = s3.get_object_tagging(Bucket=BACKUPS, Key=key)["TagSet"]
    s3.put_object(
        Bucket=BACKUPS,
        Key=key,
        Body=bytes(body),
        Metadata=stored["Metadata"],
        Tagging="&".join(f"{t['Key']}={t['Value']}" for t in tags),
    )

    with pytest.raises(ArchivalError) as info:
        restore_backup(s3, resolve_config(sponsor="titan"), "latest", empty_db, work)

    assert "does not match its recorded SHA-256" in str(info.value)
    assert "nothing reached the target" in str(info.value)
    assert _tables(empty_db) == 0
    assert list(work.iterdir()) == []  # the bad download is not kept


def test_latest_picks_the_newest_of_several_days(archived, s3):
    log, _ = archived
    key = log["backup_location"].split("/", 3)[3]
    for day, stamp in (("2026/01/05", "20260105-020000"), ("2025/12/31", "20251231-020000")):
        s3.copy_object(
            Bucket=BACKUPS,
            Key=f"backups/{day}/backup-prod-{stamp}.sql.gz",
            CopySource={"Bucket": BACKUPS, "Key": key},
        )
    entries = list_entries(s3, BACKUPS, "backups/")
    assert [e.stamp for e in entries][1:] == ["20260105-020000", "20251231-020000"]
    assert choose_backup(entries, "latest", "titan").key == key
    assert (
        choose_backup(entries, "2026-01-05", "titan").key
        == "backups/2026/01/05/backup-prod-20260105-020000.sql.gz"
    )
    with pytest.raises(ArchivalError, match="No backup of sponsor titan was archived on 2026-01-06"):
        choose_backup(entries, "2026-01-06", "titan")


def test_restore_refuses_a_non_empty_target_and_production(archived, s3, seeded_db, make_seeded_db, tmp_path):
    another = make_seeded_db()
    with pytest.raises(
        ConfigError, match=r"already holds 4 table\(s\); restore into an empty database, or pass --force"
    ):
        restore_backup(s3, resolve_config(sponsor="titan"), "latest", another, tmp_path)
    with pytest.raises(
        ConfigError, match="is sponsor titan's own DATABASE_URL; restoring over production needs"
    ):
        restore_backup(s3, resolve_config(sponsor="titan"), "latest", seeded_db, tmp_path)


def test_list_pages_past_a_thousand_keys(moto_server, s3):
    def put(n: int) -> None:
        day, hour = divmod(n, 24)
        s3.put_object(
            Bucket=BACKUPS,
            Key=f"backups/2025/{1 + day // 28:02d}/{1 + day % 28:02d}/"
            f"backup-prod-2025{1 + day // 28:02d}{1 + day % 28:02d}-{hour:02d}0000.sql.gz",
            Body=b"x",
        )

    with ThreadPoolExecutor(max_workers=8) as pool:  # 1,005 small PUTs: the test's set-up, done at once
        list(pool.map(put, range(1005)))
    entries = list_entries(s3, BACKUPS, "backups/")
    assert len(entries) == 1005
    assert entries[0].stamp > entries[-1].stamp
    assert [e.stamp for e in entries] == sorted((e.stamp for e in entries), reverse=True)
    done = run_cli("list", "--sponsor", "titan", "--limit", "3")
    assert done.returncode == 0 and done.stdout.startswith(
        f"1005 backup(s) in s3://{BACKUPS}, newest 3 shown"
    )


def test_a_backup_in_deep_archive_says_how_to_get_it_back(s3, empty_db, tmp_path):
    key = "backups/2025/01/12/backup-prod-20250112-143000.sql.gz"
    roles = key.replace(".sql.gz", ".roles.json")
    for cold in (key, roles):
        s3.put_object(Bucket=BACKUPS, Key=cold, Body=b"x", StorageClass="DEEP_ARCHIVE", Tagging="sha256=00")
    config = resolve_config(sponsor="titan")
    with pytest.raises(ArchivalError) as info:
        restore_backup(s3, config, "latest", empty_db, tmp_path)
    assert "is in DEEP_ARCHIVE and cannot be read yet" in str(info.value)
    assert "Start it with --request-glacier-restore" in str(info.value)
    with pytest.raises(ArchivalError, match="Started the Glacier restore"):
        restore_backup(s3, config, "latest", empty_db, tmp_path, request_glacier_restore=True)
    assert "ongoing-request" in s3.head_object(Bucket=BACKUPS, Key=key).get("Restore", "")
    # the roles object beside it is asked for at the same time: one Glacier wait covers both
    assert "ongoing-request" in s3.head_object(Bucket=BACKUPS, Key=roles).get("Restore", "")


def test_a_drill_passes_and_leaves_a_report_an_auditor_can_read(archived, s3, pg_admin_url, monkeypatch):
    from flows.restore_drill import restore_drill

    monkeypatch.setenv("ARCHIVAL_DRILL_DATABASE_URL", pg_admin_url)
    state = restore_drill(sponsor="titan", return_state=True)

    report = state.result()
    assert report["status"] == "passed" and report["sha256_verified"] and report["differences"] == []
    assert report["tables"]["public.diary_entries"] == 3000
    assert report["throwaway_dropped"]
    with psycopg.connect(pg_admin_url) as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'hht_drill_%'").fetchone()[0]
    assert left == 0
    stored = json.loads(
        s3.get_object(Bucket=AUDIT, Key=report["report_location"].split("/", 3)[3])["Body"].read()
    )
    assert stored["status"] == "passed" and stored["backup_sha256"] == archived[0]["backup_sha256"]
    artifact = read_artifact("restore-drill-titan-production", state.state_details.flow_run_id)
    assert "✅ PASSED" in artifact.data and "| public.diary_entries | 3000 | 3000 |" in artifact.data


def test_a_drill_names_the_table_that_differs_from_the_record(archived, s3, pg_admin_url, monkeypatch):
    """The record says more rows than the backup holds, as when a table was truncated between the
    counts and the dump; the drill must catch it and say which table."""
    from flows.restore_drill import restore_drill

    log, _ = archived
    log_key = log_key_for(log["backup_location"].split("/", 3)[3])
    record = json.loads(s3.get_object(Bucket=AUDIT, Key=log_key)["Body"].read())
    record["table_counts"]["public.diary_entries"] = 3005
    s3.put_object(Bucket=AUDIT, Key=log_key, Body=json.dumps(record).encode())
    monkeypatch.setenv("ARCHIVAL_DRILL_DATABASE_URL", pg_admin_url)

    state = restore_drill(sponsor="titan", return_state=True)

    assert state.is_failed()
    assert "Table public.diary_entries differs: 3000 rows restored, 3005 recorded." in state.message
    [drill_key] = [k["Key"] for k in s3.list_objects_v2(Bucket=AUDIT, Prefix="drills/")["Contents"]]
    stored = json.loads(s3.get_object(Bucket=AUDIT, Key=drill_key)["Body"].read())
    assert stored["status"] == "failed"
    assert stored["differences"] == [
        {
            "table": "public.diary_entries",
            "expected": 3005,
            "actual": 3000,
            "problem": "3000 rows restored, 3005 recorded",
        }
    ]


def test_a_drill_that_cannot_run_is_never_green_alone_or_in_the_weekly(s3, tmp_path, monkeypatch):
    """No scratch server: a drill asked for fails naming the setting; the weekly starts none for that
    sponsor, lists it "not configured", and fails because nothing at all was drilled."""
    from flows.drill_all_sponsors import drill_all_sponsors
    from flows.restore_drill import restore_drill

    monkeypatch.setenv("ENABLE_S3_BACKUP_ARCHIVAL", "true")  # titan's, as SPONSOR=titan
    alone = restore_drill(sponsor="titan", return_state=True)

    sentence = (
        "The restore drill of sponsor titan (production) cannot run: no drill scratch server is configured "
        "for titan; set ARCHIVAL_DRILL_DATABASE_URL to the admin URL of a scratch PostgreSQL server (never "
        "production), or name its Secret block as drill_database_url_secret in titan's sponsor block, then "
        "run the drill again."
    )
    assert alone.is_failed() and alone.message.endswith(sentence)
    shown = read_artifact("restore-drill-titan-production", alone.state_details.flow_run_id).data
    assert "NOT CONFIGURED" in shown and sentence in shown
    assert _what_the_run_page_shows(alone.state_details.flow_run_id) == (
        [
            ("markdown", "restore-drill-titan-production"),
            ("table", "drill-record-titan-production"),
        ],  # no "result"
        [],  # no traceback in the run's logs
    )
    manifest = tmp_path / "sponsors.yaml"
    manifest.write_text("sponsors:\n  - name: titan\n  - name: europa\n")

    weekly = drill_all_sponsors(manifest=str(manifest), return_state=True)

    assert weekly.is_failed()
    assert weekly.message.endswith(
        "No restore drill ran, so no backup was proven to restore: titan (production): drills not configured "
        "(set ARCHIVAL_DRILL_DATABASE_URL); europa (production): archival is not enabled for it, so it has "
        "no new backup to drill; configure a scratch server for each sponsor to drill (hht-archival doctor "
        "shows the setting), or pause drill-all-sponsors/weekly if you do not drill."
    )
    summary = json.loads(read_artifact("drill-summary", weekly.state_details.flow_run_id).data)
    assert [(row["sponsor"], row["status"]) for row in summary] == [
        ("titan", "not configured"),
        ("europa", "archival off"),
    ]


def test_a_password_on_the_command_line_is_refused():
    done = run_cli("restore", "--sponsor", "titan", "--target-url=postgresql://u:s3cret@db.internal/x")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "❌ --target-url carries a password, which other users can see in the process list; put the URL in "
        "RESTORE_TARGET_URL (or the password in ~/.pgpass) instead."
    )


@pytest.mark.parametrize("fmt, extension", [("sql.zst", ".sql.zst"), ("dump", ".dump")])
def test_every_backup_format_restores_to_identical_content(
    fmt, extension, s3, seeded_db, empty_db, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", seeded_db)
    monkeypatch.setenv("ARCHIVAL_FORMAT", fmt)
    original = table_snapshot(seeded_db)
    log, _ = run_flow(sponsor="titan", enabled=True)
    assert log["status"] == "archived" and log["backup_location"].endswith(extension)

    done = run_cli("restore", "--sponsor", "titan", env={"RESTORE_TARGET_URL": empty_db})

    assert done.returncode == 0, done.stdout + done.stderr
    assert table_snapshot(empty_db) == original


def test_a_forced_restore_that_fails_is_rolled_back_whole(archived, s3, make_seeded_db, tmp_path):
    busy = make_seeded_db()
    with psycopg.connect(busy, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (x int)")
    before = table_snapshot(busy)

    with pytest.raises(ArchivalError) as info:
        restore_backup(s3, resolve_config(sponsor="titan"), "latest", busy, tmp_path, force=True)

    assert "failed for sponsor titan and was rolled back: " in str(info.value)
    assert "already exists" in str(info.value)
    assert table_snapshot(busy) == before


def test_a_custom_backup_pg_restore_cannot_read_leaves_nothing_not_even_the_roles_before_it(
    empty_db, tmp_path
):
    """psql commits when its input ends: the input must not end while pg_restore has failed."""
    from hht_archival.load import load_into

    archive = tmp_path / "backup-prod-20260101-020000.dump"
    archive.write_bytes(b"PGDMP" + bytes(range(256)) * 64)  # the magic, then nothing pg_restore can read
    with pytest.raises(ArchivalError) as info:
        load_into(archive, empty_db, "titan", prelude="CREATE TABLE made_before_the_dump (x int);\n")

    assert str(info.value).startswith("Restoring into ") and "and was rolled back: pg_restore: error:" in str(
        info.value
    )
    assert _tables(empty_db) == 0


def _what_the_run_page_shows(flow_run_id):
    """The run's artifacts as (type, key), and any log line carrying a traceback."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, LogFilter

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
        logs = [log.message for log in client.read_logs(LogFilter(flow_run_id={"any_": [flow_run_id]}))]
    return (
        sorted((artifact.type, artifact.key or "(unnamed)") for artifact in artifacts),
        [m for m in logs if "Traceback" in m or "Encountered exception" in m],
    )
