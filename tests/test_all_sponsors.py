"""The all-sponsors flow: each sponsor its own flag, failures isolated, parallelism bounded."""

from __future__ import annotations

from datetime import datetime

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, TaskRunFilter, TaskRunFilterName

from flows.archive_all_sponsors import SponsorsFailed, archive_all_sponsors
from tests.flowhelpers import read_artifact
from tests.support.s3server import list_keys

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _buckets(sponsor: str) -> tuple[str, str]:
    return f"hht-diary-backups-{sponsor}-eu-west-1", f"hht-diary-audit-logs-{sponsor}-eu-west-1"


def _manifest(tmp_path, *sponsors: str) -> str:
    lines = ["sponsors:"] + [
        f"  - name: {s}\n    env_prefix: {s.upper().replace('-', '_')}_" for s in sponsors
    ]
    path = tmp_path / "sponsors.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _run(**params):
    state = archive_all_sponsors(return_state=True, **params)
    try:
        return state, state.result()
    except Exception as exc:  # the flow's failure is what some tests inspect
        return state, exc


def test_one_enabled_one_disabled_one_broken_each_ends_its_own_way(
    s3, moto_server, make_seeded_db, scram_cluster, tmp_path, monkeypatch
):
    for sponsor in ("callisto", "europa"):  # titan's come with the s3 fixture
        moto_server.make_buckets(*_buckets(sponsor))
    monkeypatch.setenv("TITAN_ENABLE_S3_BACKUP_ARCHIVAL", "true")
    monkeypatch.setenv("TITAN_DATABASE_URL", make_seeded_db())
    monkeypatch.setenv("CALLISTO_DATABASE_URL", make_seeded_db())  # flag unset: stays off
    monkeypatch.setenv("EUROPA_ENABLE_S3_BACKUP_ARCHIVAL", "yes")
    monkeypatch.setenv("EUROPA_DATABASE_URL", scram_cluster.url("diary", password="wrong-password"))
    monkeypatch.setenv("EUROPA_AWS_ACCESS_KEY_ID", "europa-key")  # its own: titan's keys are titan's
    monkeypatch.setenv("EUROPA_AWS_SECRET_ACCESS_KEY", "europa-secret")

    state, failure = _run(manifest=_manifest(tmp_path, "titan", "callisto", "europa"))

    assert state.is_failed()
    assert isinstance(failure, SponsorsFailed)
    assert str(failure).startswith(
        "1 of 3 sponsor runs failed: europa (production): The database for sponsor europa could not be used "
    )
    assert str(failure).endswith("check the host, user, password and database name in EUROPA_DATABASE_URL.")
    rows = {row["sponsor"]: row for row in failure.summary}
    assert [row["sponsor"] for row in failure.summary] == ["titan", "callisto", "europa"]
    assert (rows["titan"]["status"], rows["callisto"]["status"], rows["europa"]["status"]) == (
        "archived",
        "skipped",
        "failed",
    )
    assert rows["titan"]["flag_source"] == rows["europa"]["flag_source"] == "environment"
    titan_backup = rows["titan"]["location"].split("/", 3)[3]  # and its roles object beside it
    titan_roles = titan_backup.replace(".sql.gz", ".roles.json")
    assert list_keys(s3, _buckets("titan")[0]) == [titan_roles, titan_backup]
    assert list_keys(s3, _buckets("callisto")[0]) == list_keys(s3, _buckets("callisto")[1]) == []
    assert list_keys(s3, _buckets("europa")[0]) == []
    for sponsor in ("titan", "callisto", "europa"):
        assert rows[sponsor]["local_log"].startswith(str(tmp_path / "logs" / sponsor))
    assert (
        "hht-diary-backups-callisto-eu-west-1"
        in read_artifact("s3-archival-disabled-callisto-production").data
    )
    summary = read_artifact("archive-summary")
    assert summary.type == "table" and "europa" in summary.data and "database-backup" not in summary.data


def test_parallelism_never_exceeds_the_bound(s3, tmp_path):
    sponsors = ["s-one", "s-two", "s-three", "s-four", "s-five"]
    state, summary = _run(manifest=_manifest(tmp_path, *sponsors), max_parallel=2)

    assert [row["status"] for row in summary] == ["skipped"] * 5
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id])),
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="archive-s-")),
        )
    assert len(runs) == 5
    edges = sorted(
        [(r.start_time, 1) for r in runs] + [(r.end_time, -1) for r in runs],
        key=lambda edge: (edge[0], edge[1]),
    )
    running = peak = 0
    for _, change in edges:
        running += change
        peak = max(peak, running)
    print(f"peak concurrent sponsor runs: {peak} (bound 2)")
    assert peak == 2
    assert all(isinstance(r.start_time, datetime) for r in runs)


def test_a_sponsor_filter_runs_only_those(s3, tmp_path):
    state, summary = _run(manifest=_manifest(tmp_path, "alpha", "beta", "gamma"), sponsors=["beta"])
    assert [row["sponsor"] for row in summary] == ["beta"]
