"""The `hht-archival` command as a user runs it: output, exit status, GITHUB_OUTPUT, a real Prefect server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ARCHIVE_TASKS, AUDIT, BACKUPS, SPONSOR, log_files, run_cli
from tests.support.prefectserver import api_request
from tests.support.s3server import list_keys


def _log(tmp_path):
    files = log_files(tmp_path / "logs" / SPONSOR)
    assert len(files) == 1, files
    return json.loads(files[0].read_text())


def test_the_default_run_prints_the_banner_saves_a_local_log_and_exits_0(s3, s3_proxy, tmp_path):
    """The newcomer's first command: Prefect's embedded engine, flag unset."""
    done = run_cli("run", "--sponsor", "titan")

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "ℹ️  S3 BACKUP ARCHIVAL NOT YET ENABLED" in out
    assert f"     - {BACKUPS}\n     - {AUDIT}\n" in out
    assert (
        "doppler secrets set ENABLE_S3_BACKUP_ARCHIVAL=true \\\n"
        "       --project hht-diary-titan --config production" in out
    )
    assert "ℹ️  S3 audit log archival not yet enabled - log saved locally only" in out
    assert "backup_location=not-configured\nbackup_size=0\n" in out
    assert '"s3_archival_enabled": false' in out
    for noise in ("Traceback", "ERROR", "CancelledError"):
        assert noise not in out + done.stderr
    assert _log(tmp_path)["status"] == "skipped"
    assert s3_proxy.requests == []


def test_a_bad_flag_value_stops_before_any_work_with_one_sentence(tmp_path):
    done = run_cli("run", "--sponsor", "titan", env={"ENABLE_S3_BACKUP_ARCHIVAL": "maybe"})

    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == (
        "❌ ENABLE_S3_BACKUP_ARCHIVAL='maybe' for sponsor titan is not a recognised value; "
        "use one of true, 1, yes, on to enable or false, 0, no, off to disable."
    )
    assert "Traceback" not in done.stderr + done.stdout
    log = _log(tmp_path)
    assert log["status"] == "failed" and "maybe" in log["error"]


def test_a_misspelt_sponsor_is_refused_with_the_closest_known_one_and_the_command_to_type(tmp_path):
    """`run --sponsor titna --enable` must not archive a new, unconfigured "titna"; nothing is sent to S3."""
    done = run_cli("run", "--sponsor", "titna", "--enable")

    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines()[0].endswith(
        "did you mean titan? Run: hht-archival run --sponsor titan --enable"
    ), done.stderr
    assert "Traceback" not in done.stderr
    [log] = [json.loads(path.read_text()) for path in (tmp_path / "logs").glob("*/deployment-*.json")]
    assert log["status"] == "failed" and "did you mean titan?" in log["error"]


def test_enabled_run_against_a_prefect_server_archives_and_writes_github_outputs(
    s3, seeded_db, tmp_path, prefect_server
):
    outputs = tmp_path / "github_output"
    done = run_cli(
        "run",
        "--sponsor",
        "titan",
        "--environment",
        "staging",
        "--enable",
        env={
            **prefect_server.env(),
            "DATABASE_URL": seeded_db,
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_SHA": "f00d",
            "GITHUB_REPOSITORY": "acme/diary",
            "GITHUB_RUN_ID": "42",
        },
    )

    assert done.returncode == 0, done.stderr
    log = _log(tmp_path)
    assert log["status"] == "archived" and log["environment"] == "staging"
    assert log["deployment"]["run_url"] == "https://github.com/acme/diary/actions/runs/42"
    assert "✅ S3 backup archival is ENABLED for sponsor titan (staging)" in done.stdout
    for step in ("dump:", "compress:", "upload:", "tag:", "write_log:"):
        assert f"\n{step}" in done.stdout
    expected = f"backup_location={log['backup_location']}\nbackup_size={log['backup_size']}\n"
    assert expected in done.stdout
    assert outputs.read_text() == expected
    assert list_keys(s3, BACKUPS) == sorted(
        loc.split("/", 3)[3] for loc in (log["backup_location"], log["roles_location"])
    )
    assert "/backup-staging-" in log["backup_location"]
    assert "Traceback" not in done.stdout + done.stderr
    # The log says where the stream's time went: each part's CPU seconds, pg_dump's own included.
    [stream] = [step for step in log["steps"] if step["step"] == "stream"]
    assert re.search(
        r"CPU s: pg_dump \d+\.\d\d, reading it \d+\.\d\d, compress and SHA-256 \d+\.\d\d, "
        r"upload \d+\.\d\d$",
        stream["detail"],
    ), stream

    api = prefect_server.api_url
    runs = api_request(
        "POST", f"{api}/flow_runs/filter", json={"flow_runs": {"id": {"any_": [log["flow_run_id"]]}}}
    ).json()
    assert [(r["name"], r["state_type"]) for r in runs] == [("archive-titan-staging", "COMPLETED")]
    tasks = api_request(
        "POST", f"{api}/task_runs/filter", json={"flow_runs": {"id": {"any_": [runs[0]["id"]]}}}
    ).json()
    assert {t["name"] for t in tasks} == {f"{step}-titan-staging" for step in ARCHIVE_TASKS}


def test_a_failed_run_prints_one_sentence_no_traceback_and_exits_1(s3, tmp_path, prefect_server):
    done = run_cli(
        "run",
        "--sponsor",
        "titan",
        "--enable",
        env={**prefect_server.env(), "DATABASE_URL": "postgresql://postgres@127.0.0.1:9/gone"},
    )

    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("❌")]
    assert len(errors) == 1
    assert errors[0].startswith("❌ The database for sponsor titan did not answer after ")
    assert "Traceback" not in done.stderr + done.stdout
    assert "backup_location=not-configured\nbackup_size=0\n" in done.stdout
    assert _log(tmp_path)["status"] == "failed"


def test_debug_shows_the_traceback(s3, tmp_path, prefect_server):
    done = run_cli(
        "run",
        "--sponsor",
        "titan",
        "--enable",
        "--debug",
        env={**prefect_server.env(), "DATABASE_URL": "postgresql://postgres@127.0.0.1:9/gone"},
    )
    assert done.returncode == 1
    assert "Traceback" in done.stderr


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["demo", "--help"]])
def test_help_has_an_example(argv):
    done = run_cli(*argv)
    assert done.returncode == 0 and "Example:" in done.stdout


def test_two_runs_for_one_sponsor_never_overlap(s3, seeded_db, tmp_path, prefect_server):
    """Started together, the second waits for the first; both archive, under different keys."""
    env = {**os.environ, **prefect_server.env(), "DATABASE_URL": seeded_db}
    script = str(Path(sys.executable).with_name("hht-archival"))
    procs = [
        subprocess.Popen(
            [script, "run", "--sponsor", "titan", "--environment", "dev", "--enable"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=180) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs

    assert len(list_keys(s3, BACKUPS)) == 2 * 2  # each run's backup and its roles object
    api = prefect_server.api_url
    run_ids = [json.loads(path.read_text())["flow_run_id"] for path in log_files(tmp_path / "logs" / SPONSOR)]
    runs = api_request(
        "POST", f"{api}/flow_runs/filter", json={"flow_runs": {"id": {"any_": run_ids}}}
    ).json()
    assert len(runs) == 2
    windows = []
    for run in runs:
        tasks = api_request(
            "POST", f"{api}/task_runs/filter", json={"flow_runs": {"id": {"any_": [run["id"]]}}}
        ).json()
        by_name = {t["name"]: t for t in tasks}
        windows.append((by_name["dump-titan-dev"]["start_time"], by_name["write_log-titan-dev"]["end_time"]))
    first, second = sorted(windows)
    assert first[1] <= second[0], f"archive windows overlap: {first} and {second}"


def test_a_manifest_run_from_the_command_line(s3, seeded_db, tmp_path, prefect_server):
    manifest = tmp_path / "sponsors.yaml"
    manifest.write_text("sponsors:\n  - name: titan\n    env_prefix: TITAN_\n  - name: callisto\n")
    outputs = tmp_path / "github_output"
    done = run_cli(
        "run",
        "--manifest",
        str(manifest),
        "--max-parallel",
        "2",
        env={
            **prefect_server.env(),
            "TITAN_ENABLE_S3_BACKUP_ARCHIVAL": "on",
            "TITAN_DATABASE_URL": seeded_db,
            "GITHUB_OUTPUT": str(outputs),
        },
    )
    assert done.returncode == 0, done.stderr
    [titan_backup] = [k for k in list_keys(s3, BACKUPS) if k.endswith(".sql.gz")]
    titan_size = s3.head_object(Bucket=BACKUPS, Key=titan_backup)["ContentLength"]
    assert outputs.read_text() == (  # the seed's outputs, one pair per sponsor, named after it
        f"backup_location_titan_production=s3://{BACKUPS}/{titan_backup}\n"
        f"backup_size_titan_production={titan_size}\n"
        "backup_location_callisto_production=not-configured\nbackup_size_callisto_production=0\n"
    )
    assert "Deployment log of titan (production):" in done.stdout
    assert (
        "ℹ️  S3 audit log archival not yet enabled - log saved locally only (callisto (production))"
        in done.stdout
    )
    assert "[archive-titan-production] dump:" in done.stdout
    assert "  archived  titan (production): s3://hht-diary-backups-titan-eu-west-1/backups/" in done.stdout
    assert "  skipped   callisto (production): not-configured" in done.stdout
    assert len(list_keys(s3, BACKUPS)) == 2  # titan's backup and its roles object


def test_a_bad_manifest_stops_before_any_work(tmp_path):
    manifest = tmp_path / "sponsors.yaml"
    manifest.write_text("sponsors:\n  - name: titan\n    enviroments: [production]\n")
    done = run_cli("run", "--manifest", str(manifest))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"❌ Sponsor manifest {manifest} line 2 (sponsor titan): unknown field 'enviroments'; "
        "did you mean 'environments'?"
    )


def test_the_demo_archives_the_database_and_shows_where_everything_landed(
    seeded_db, tmp_path, prefect_server
):
    done = run_cli("demo", "--database-url", seeded_db, env=prefect_server.env())

    assert done.returncode == 0, done.stdout + done.stderr
    assert "s3://hht-diary-backups-demo-eu-west-1/backups/" in done.stdout
    assert "encryption AES256" in done.stdout and "data-class=database-backup" in done.stdout
    assert "(sha256 matches the log)" in done.stdout
    [copy] = (tmp_path / "demo-output").glob("backup-dev-*.sql.gz")
    sql = subprocess.run(["gunzip", "-c", str(copy)], capture_output=True, check=True).stdout
    assert b"CREATE TABLE public.diary_entries" in sql


def test_a_dump_limit_set_by_an_operator_caps_pg_dumps_across_runs(s3, seeded_db, tmp_path, prefect_server):
    """`prefect concurrency-limit create hht-archival-dump 1`: two runs at once, one pg_dump at a time."""
    limits = f"{prefect_server.api_url}/v2/concurrency_limits/"
    api_request("POST", limits, json={"name": "tag:hht-archival-dump", "limit": 1})
    try:
        env = {**os.environ, **prefect_server.env(), "DATABASE_URL": seeded_db}
        script = str(Path(sys.executable).with_name("hht-archival"))
        procs = [
            subprocess.Popen(
                [script, "run", "--sponsor", "titan", "--environment", environment, "--enable"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for environment in ("dev", "staging")  # two archive locks: only the dump limit holds them apart
        ]
        outputs = [proc.communicate(timeout=180) for proc in procs]
    finally:
        api_request("DELETE", f"{limits}tag:hht-archival-dump")
    assert [proc.returncode for proc in procs] == [0, 0], outputs

    run_ids = [json.loads(path.read_text())["flow_run_id"] for path in log_files(tmp_path / "logs" / SPONSOR)]
    dumps = api_request(
        "POST",
        f"{prefect_server.api_url}/task_runs/filter",
        json={"flow_runs": {"id": {"any_": run_ids}}, "task_runs": {"name": {"like_": "dump-"}}},
    ).json()
    assert sorted(d["name"] for d in dumps) == ["dump-titan-dev", "dump-titan-staging"]
    assert all(d["tags"] == ["hht-archival-dump"] for d in dumps)
    first, second = sorted((d["start_time"], d["end_time"]) for d in dumps)
    assert first[1] <= second[0], f"two pg_dumps ran at once under a limit of 1: {first} and {second}"
