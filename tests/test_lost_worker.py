"""A night that loses a worker's machine and restarts the Prefect server, and still archives everyone.

On the production topology: `hht-archival server` on PostgreSQL, `prefect
deploy --all` from a clone that is then removed, `hht-archival worker`s in
other clones, alerts installed. One worker takes the nightly itself; of the two
that take sponsors, the one whose run is mid-dump is lost at once (SIGKILL to
it and everything under it, as a machine that loses power). Nothing is left to
end that run, so Prefect shows it Running until the nightly sees its
heartbeats stop and marks it Crashed; the crash notice goes out once; the
nightly starts that sponsor again on the other worker. While that second run
is in flight, the server is stopped and started again on the same database:
the workers, the run and the nightly carry on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import run_cli
from tests.support.pgcluster import (
    create_database,
    drop_database,
    pg_dump_waiting_on_a_lock,
    seed_diary_database,
    url_with_dbname,
)
from tests.support.prefectserver import PrefectServer, api_request, prefect_cli
from tests.support.s3server import list_keys, open_multipart_uploads
from tests.support.teamrepo import clone, make_team_remote
from tests.support.webhook import WebhookReceiver, save_webhook_block
from tests.support.workers import Worker, descendants

REPO = Path(__file__).resolve().parents[1]
PREFECT = str(Path(sys.executable).with_name("prefect"))
SPONSORS = ["lost-a", "lost-b", "lost-c"]  # lost-b's run is the one on the machine that is lost
MANIFEST = "sponsors:\n" + "".join(f"  - name: {name}\n" for name in SPONSORS)
HEARTBEAT_SECONDS = 30  # Prefect's shortest; production keeps its 180 s
LOST_AFTER_SECONDS = 75  # production: 600, over three of the default heartbeats


def _api(server, path, body=None, method="POST"):
    return api_request(method, f"{server.api_url}{path}", json=body).json()


@pytest.fixture
def night(pg_admin_url, s3, moto_server, seeded_db, tmp_path):
    """Its own server (it is restarted), each sponsor's settings and buckets (made after ``s3``
    emptied the S3 server)."""
    locked = f"hht_lost_b_{uuid.uuid4().hex[:8]}"  # lost-b's own database, so its lock holds only it
    locked_url = url_with_dbname(pg_admin_url, locked)
    create_database(pg_admin_url, locked)
    seed_diary_database(locked_url)
    env = {}
    for sponsor in SPONSORS:
        moto_server.make_buckets(
            f"hht-diary-backups-{sponsor}-eu-west-1", f"hht-diary-audit-logs-{sponsor}-eu-west-1"
        )
        prefix = sponsor.upper().replace("-", "_") + "_"
        env[f"{prefix}ENABLE_S3_BACKUP_ARCHIVAL"] = "true"
        env[f"{prefix}DATABASE_URL"] = locked_url if sponsor == "lost-b" else seeded_db
        env[f"{prefix}AWS_ACCESS_KEY_ID"] = env[f"{prefix}AWS_SECRET_ACCESS_KEY"] = "testing"
    env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] = str(HEARTBEAT_SECONDS)
    env["ARCHIVAL_LOST_AFTER_SECONDS"] = str(LOST_AFTER_SECONDS)  # read by the nightly
    try:
        with PrefectServer(postgres_admin_url=pg_admin_url) as server:
            yield {"server": server, "where": tmp_path, "env": env, "locked_url": locked_url}
    finally:
        drop_database(pg_admin_url, locked)


def _deploy(night) -> None:
    """`prefect deploy --all` from a clone of the team's remote, which is then removed."""
    night["remote"] = make_team_remote(REPO, night["where"], {"sponsors.yaml": MANIFEST})
    deployer = clone(night["remote"], night["where"] / "laptop")
    for args in (["work-pool", "create", "hht-archival", "--type", "process"], ["deploy", "--all"]):
        done = prefect_cli(night["server"], *args, cwd=deployer)
        assert done.returncode == 0, done.stdout + done.stderr
    shutil.rmtree(deployer)


def _wait(what, condition, timeout, logs=lambda: "", watched: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s\n{logs()}"
        assert watched is None or watched.poll() is None, f"the nightly ended first\n{watched.stdout.read()}"
        time.sleep(0.5)
    return found


def _runs(server, deployment: str) -> list[dict]:
    return _api(server, "/flow_runs/filter", {"deployments": {"name": {"any_": [deployment]}}})


def _nightly_ended(server) -> bool:
    """Whether the nightly's run reached a final state; False while the server does not answer."""
    try:
        runs = [r for r in _runs(server, "nightly") if r["state_type"] != "SCHEDULED"]  # not 02:00's
    except httpx.HTTPError:
        return False
    final = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
    return bool(runs) and all(r["state_type"] in final for r in runs)


def _runs_pg_dump(worker: Worker) -> bool:
    for pid in descendants(worker.proc.pid):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"pg_dump"):
                return True
        except OSError:
            continue
    return False


@pytest.mark.timeout(600)
def test_a_worker_lost_mid_night_and_a_server_restart_cost_no_sponsor(night, s3):
    server, env = night["server"], night["env"]
    cli = {**server.env(), **env}
    manifest = night["where"] / "sponsors.yaml"
    manifest.write_text(MANIFEST)
    migration = psycopg.connect(night["locked_url"])
    migration.execute("LOCK TABLE diary_entries IN ACCESS EXCLUSIVE MODE")  # lost-b's dump waits on it
    workers: list[Worker] = []
    with WebhookReceiver() as receiver:
        save_webhook_block(server.env(), receiver.url, "night-ops", "tok-night")
        installed = run_cli(
            "alerts", "install", "--block", "custom-webhook/night-ops", "--manifest", str(manifest), env=cli,
        )  # fmt: skip
        assert installed.returncode == 0, installed.stdout + installed.stderr
        _deploy(night)  # after the install: a new automation takes up to half a minute to act
        started = time.monotonic()
        try:
            workers.append(Worker(night, "night-host", env, limit=1))  # takes the nightly and nothing else
            nightly = subprocess.Popen(
                [PREFECT, "--no-prompt", "deployment", "run", "archive-all-sponsors/nightly", "--watch"],
                env={**os.environ, **server.env()},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            logs = lambda: "\n".join(w.log.read_text()[-1500:] for w in workers)  # noqa: E731
            _wait(
                "the nightly running",
                lambda: any(r["state_type"] == "RUNNING" for r in _runs(server, "nightly")),
                120,
                logs,
            )
            workers += [Worker(night, name, env) for name in ("machine-1", "machine-2")]
            _wait(
                "lost-b's dump waiting on the lock",
                lambda: pg_dump_waiting_on_a_lock(night["locked_url"]),
                180,
                logs,
                nightly,
            )
            archived = lambda: sum(r["state_type"] == "COMPLETED" for r in _runs(server, "sponsor-run"))  # noqa: E731
            _wait("lost-a and lost-c archived", lambda: archived() == 2, 120, logs, nightly)
            [doomed] = [w for w in workers[1:] if _runs_pg_dump(w)]
            [survivor] = [w for w in workers[1:] if w is not doomed]
            doomed.lose()
            lost_at = time.monotonic()
            crashed = lambda: [r for r in _runs(server, "sponsor-run") if r["state_type"] == "CRASHED"]  # noqa: E731
            _wait("lost-b's run marked Crashed", crashed, 240, logs, nightly)
            detected = time.monotonic() - lost_at
            [crash] = receiver.wait_for("crashed", timeout=120)
            _wait(
                "lost-b's second run waiting on the lock", lambda: _runs_pg_dump(survivor), 120, logs, nightly
            )
            away = server.restart()  # mid-night, lost-b's second run in flight and the nightly waiting on it
            print(f"\nThe server was away {away:.1f} s, {time.monotonic() - started:.0f} s into the night")
            migration.close()  # the migration ends: lost-b's second run goes on
            # Prefect's `--watch` may stop watching when the server was away (exit 1, "the events or
            # logs stream closed unexpectedly"); the night itself is what counts: its run's end.
            _wait("the nightly's end", lambda: _nightly_ended(server), 240, logs)
            out, _ = nightly.communicate(timeout=60)
            survivor_alive = survivor.proc.poll() is None
        finally:
            for worker in workers:
                worker.stop()
            migration.close()
        pages = [m["subject"] for m in receiver.received]
    print(f"Lost run marked Crashed and noticed {detected:.0f} s after its machine was lost; pages: {pages}")

    # The night completed: every sponsor archived once, lost-b by its second run on the other machine.
    [night_run] = [r for r in _runs(server, "nightly") if r["state_type"] != "SCHEDULED"]  # not 02:00's
    assert night_run["state_type"] == "COMPLETED"
    for sponsor in SPONSORS:
        bucket = f"hht-diary-backups-{sponsor}-eu-west-1"
        assert len([k for k in list_keys(s3, bucket) if k.endswith(".sql.gz")]) == 1, (sponsor, out)
        assert open_multipart_uploads(s3, bucket) == []
    lost_b = sorted(
        (r for r in _runs(server, "sponsor-run") if r["name"] == "archive-lost-b-production"),
        key=lambda r: r["start_time"] or "",
    )
    assert [r["state_type"] for r in lost_b] == ["CRASHED", "COMPLETED"]
    assert lost_b[0]["state"]["message"].startswith("No heartbeat for 75 s: the worker or machine running it")
    assert survivor_alive  # it came through the server's restart and took the second run
    assert any("lost-b" in p.read_text() for p in survivor.logs())

    # The summary names the restart; the crash was paged once, with a link to the lost run.
    query = {"artifacts": {"key": {"any_": ["archive-summary"]}, "flow_run_id": {"any_": [night_run["id"]]}}}
    [summary] = _api(server, "/artifacts/filter", query)
    rows = {row["sponsor"]: row for row in json.loads(summary["data"])}
    assert rows["lost-b"]["status"] == "archived"
    assert rows["lost-b"]["reason"].startswith(f"started again: its first run {lost_b[0]['name']} crashed")
    assert rows["lost-a"]["reason"] == rows["lost-c"]["reason"] == ""
    assert pages == [crash["subject"]], pages
    assert lost_b[0]["id"] in crash["body"]
