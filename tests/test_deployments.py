"""prefect.yaml as a platform team uses it: deploy, process workers, runs from CI and the UI.

Everything runs against a real `prefect server start`: `prefect deploy --all`
from this repository, real process workers, `prefect deployment run --watch`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import AUDIT, BACKUPS, run_cli
from tests.support.prefectserver import api_request
from tests.support.s3server import list_keys

REPO = Path(__file__).resolve().parents[1]
PREFECT = str(Path(sys.executable).with_name("prefect"))


def _prefect(server, *args, timeout=180):
    return subprocess.run(
        [PREFECT, "--no-prompt", *args],
        cwd=REPO,
        env={**os.environ, **server.env()},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def deployed(prefect_server):
    created = _prefect(prefect_server, "work-pool", "create", "hht-archival", "--type", "process")
    assert created.returncode == 0, created.stdout + created.stderr
    done = _prefect(prefect_server, "deploy", "--all")
    assert done.returncode == 0, done.stdout + done.stderr
    return prefect_server


class Worker:
    """A `prefect worker start` process on the hht-archival pool, running one flow at a time."""

    def __init__(self, server, name: str, log: Path):
        env = {**os.environ, **server.env(), "PREFECT_WORKER_QUERY_SECONDS": "1"}
        self.log = log
        self.proc = subprocess.Popen(
            [PREFECT, "worker", "start", "--pool", "hht-archival", "--name", name, "--limit", "1"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _api(server, path, body):
    return api_request("POST", f"{server.api_url}{path}", json=body).json()


def test_pre_deploy_run_triggered_and_watched_from_ci(deployed, s3, seeded_db, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", seeded_db)  # the worker's environment, passed to its runs
    monkeypatch.setenv("ENABLE_S3_BACKUP_ARCHIVAL", "true")
    worker = Worker(deployed, "ci-worker", tmp_path / "worker.log")
    try:
        metadata = '{"version": "3.1.0", "git_sha": "cafe123"}'
        done = _prefect(
            deployed, "deployment", "run", "archive-sponsor/pre-deploy", "-p", "sponsor=titan",
            "-p", "environment=production", "-p", f"deployment={metadata}", "--watch",
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr + worker.log.read_text()[-3000:]
        ours = run_cli(
            "pre-deploy", "--sponsor", "titan", "--environment", "staging", "--version", "3.2.0",
            env={**deployed.env(), "GITHUB_SHA": "beef456", "GITHUB_ACTOR": "octo"},
        )  # fmt: skip
    finally:
        worker.stop()
    assert ours.returncode == 0, ours.stdout + ours.stderr
    assert "archive-titan-staging" in ours.stdout and "Completed" in ours.stdout

    keys = [k for k in list_keys(s3, BACKUPS) if k.endswith(".sql.gz")]
    assert len(keys) == 2, (keys, ours.stdout)
    assert len(list_keys(s3, BACKUPS)) == 2 * 2  # each backup with its roles object
    backup_key, staging_key = keys
    log_key, staging_log_key = [k for k in list_keys(s3, AUDIT) if "/deployment-" in k]  # not chain heads
    log = json.loads(s3.get_object(Bucket=AUDIT, Key=log_key)["Body"].read())
    assert log["status"] == "archived" and log["backup_location"] == f"s3://{BACKUPS}/{backup_key}"
    assert log["deployment"] == {"version": "3.1.0", "git_sha": "cafe123"}
    staging_log = json.loads(s3.get_object(Bucket=AUDIT, Key=staging_log_key)["Body"].read())
    assert "/backup-staging-" in staging_key
    assert staging_log["deployment"] == {"version": "3.2.0", "git_sha": "beef456", "actor": "octo"}

    [run] = _api(
        deployed,
        "/flow_runs/filter",
        {
            "flow_runs": {"name": {"any_": ["archive-titan-production"]}},
            "deployments": {"name": {"any_": ["pre-deploy"]}},
        },
    )
    assert run["state_type"] == "COMPLETED"
    artifacts = _api(deployed, "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run["id"]]}}})
    links = [a for a in artifacts if a["key"] == "backup-titan-production"]
    assert links and f"s3://{BACKUPS}/{backup_key}" in links[0]["data"]


def test_deployments_have_the_schedule_and_the_documented_form(deployed):
    deployments = {d["name"]: d for d in _api(deployed, "/deployments/filter", {})}
    assert set(deployments) >= {"nightly", "pre-deploy", "on-demand"}
    [schedule] = deployments["nightly"]["schedules"]
    assert schedule["schedule"]["cron"] == "0 2 * * *" and schedule["schedule"]["timezone"] == "UTC"
    form = deployments["on-demand"]["parameter_openapi_schema"]
    assert form["properties"]["enabled"]["description"].startswith("Override the feature flag for this run.")
    assert form["definitions"]["ApplicationDeployment"]["properties"]["git_sha"]["title"] == "Git SHA"


def test_two_workers_on_one_pool_share_the_runs(deployed, s3, tmp_path):
    workers = [Worker(deployed, f"worker-{n}", tmp_path / f"worker-{n}.log") for n in ("a", "b")]
    deployment = api_request("GET", f"{deployed.api_url}/deployments/name/archive-sponsor/on-demand").json()
    try:
        runs = [
            _api(
                deployed,
                f"/deployments/{deployment['id']}/create_flow_run",
                {"parameters": {"sponsor": f"spread-{n}"}},
            )["id"]
            for n in range(4)
        ]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            states = [
                r["state_type"]
                for r in _api(deployed, "/flow_runs/filter", {"flow_runs": {"id": {"any_": runs}}})
            ]
            if all(s in ("COMPLETED", "FAILED", "CRASHED") for s in states) and len(states) == 4:
                break
            time.sleep(2)
        assert states == ["COMPLETED"] * 4, [w.log.read_text()[-2000:] for w in workers]
        ran_on = _workers_that_ran(deployed, runs)  # before stopping them: they report after each run
    finally:
        for worker in workers:
            worker.stop()
    print(f"runs per worker: { {w: list(ran_on.values()).count(w) for w in set(ran_on.values())} }")
    assert set(ran_on) == set(runs)
    assert set(ran_on.values()) == {"worker-a", "worker-b"}


def _workers_that_ran(server, runs: list[str]) -> dict[str, str]:
    """Flow run id -> name of the worker that executed it, from the workers' own events."""
    ran_on: dict[str, str] = {}
    deadline = time.monotonic() + 60
    while len(ran_on) < len(runs) and time.monotonic() < deadline:
        events = _api(
            server,
            "/events/filter",
            {
                "filter": {
                    "event": {"name": ["prefect.worker.executed-flow-run"]},
                    "resource": {"id_prefix": ["prefect.worker.process.worker-"]},
                },
                "limit": 50,
            },
        )["events"]  # fmt: skip
        for event in events:
            for related in event["related"]:
                flow_run = related["prefect.resource.id"].removeprefix("prefect.flow-run.")
                if flow_run in runs:
                    ran_on[flow_run] = event["resource"]["prefect.resource.name"]
        time.sleep(1)
    return ran_on
