"""Helpers for reading what a flow run left behind, through the Prefect API a user's UI reads."""

from __future__ import annotations

import gzip
import json
from datetime import datetime

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.client.schemas.sorting import ArtifactSort

from flows.archive_sponsor import archive_sponsor


def run_flow(**params):
    """Run the flow in-process; return (result dict or the raised exception, flow run id)."""
    state = archive_sponsor(return_state=True, **params)
    flow_run_id = state.state_details.flow_run_id
    try:
        return state.result(), flow_run_id
    except Exception as exc:  # the flow's failure is what these tests inspect
        return exc, flow_run_id


def task_run_counts(flow_run_id) -> dict[str, int]:
    """How many times each task ran (1 = no retry), keyed by task run name.

    A retried stream starts new dump, compress and upload runs of the same name: they add up.
    """
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.name] = counts.get(run.name, 0) + run.run_count
    return counts


def read_artifact(key: str, flow_run_id=None):
    """The newest artifact with ``key`` (of ``flow_run_id`` when given)."""
    artifact_filter = ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
    if flow_run_id is not None:
        artifact_filter.flow_run_id = ArtifactFilterFlowRunId(any_=[flow_run_id])
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=artifact_filter, sort=ArtifactSort.CREATED_DESC)
    return found[0] if found else None


def expected_keys(log: dict, env_short: str) -> tuple[str, str]:
    """The seed's key layout, derived here from the log's own timestamp (not from our code)."""
    moment = datetime.strptime(log["timestamp"], "%Y-%m-%dT%H:%M:%SZ")
    day, stamp = moment.strftime("%Y/%m/%d"), moment.strftime("%Y%m%d-%H%M%S")
    return (
        f"backups/{day}/backup-{env_short}-{stamp}.sql.gz",
        f"deployments/{day}/deployment-{env_short}-{stamp}.json",
    )


def get_tags(client, bucket: str, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


def read_json_object(client, bucket: str, key: str) -> dict:
    return json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def gunzipped(client, bucket: str, key: str) -> bytes:
    return gzip.decompress(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def save_sponsor_block(name: str, endpoint: str, database_url: str, enabled: bool | None) -> None:
    """Save a titan hht-sponsor-archival block, and the S3Bucket and Secret blocks it names."""
    from prefect.blocks.system import Secret
    from prefect_aws import AwsCredentials
    from prefect_aws.client_parameters import AwsClientParameters
    from prefect_aws.s3 import S3Bucket

    from blocks.sponsor import SponsorArchival

    credentials = AwsCredentials(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="eu-west-1",
        aws_client_parameters=AwsClientParameters(endpoint_url=endpoint),
    )
    S3Bucket(bucket_name="hht-diary-backups-titan-eu-west-1", credentials=credentials).save(
        f"{name}-backups", overwrite=True
    )
    S3Bucket(bucket_name="hht-diary-audit-logs-titan-eu-west-1", credentials=credentials).save(
        f"{name}-audit", overwrite=True
    )
    Secret(value=database_url).save(f"{name}-database-url", overwrite=True)
    SponsorArchival(
        sponsor="titan",
        backups_bucket_block=f"{name}-backups",
        audit_logs_bucket_block=f"{name}-audit",
        database_url_secret=f"{name}-database-url",
        enable_s3_backup_archival=enabled,
    ).save(name, overwrite=True)
