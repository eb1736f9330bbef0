"""archive-status: every sponsor's status as a table artifact, and each hash chain walked, after the nightly.

Why a flow and not an automation: walking a hash chain means reading every
deployment log from S3 with the sponsor's credentials, which only a run on a
worker can do. prefect.yaml starts it when the nightly ends (a deployment
trigger) and once a day besides; a broken chain opens an incident that the
alerts' relay sends (hht_archival/outcomes.py). It reads with the same rights
as the archive runs: it lists and reads deployments/ only.
"""

from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run

from blocks.config import load_settings, resolve_config
from blocks.manifest import resolve_manifest
from flows.endings import failed
from flows.form import (
    EVERY_SPONSOR,
    EnvironmentScope,
    SponsorScope,
    Text,
    environment_filter,
    field,
    scope_run_name,
)
from hht_archival.errors import ArchivalError
from hht_archival.outcomes import report_chain
from hht_archival.status import HEADER, build_row, read_ledgers
from tasks.check_flag import decide


def _run_name() -> str:
    """``status-titan-production``, ``status-every-sponsor`` (every environment), as chosen."""
    return scope_run_name("status", flow_run.parameters or {}, empty_means_every=True)


@flow(name="archive-status", flow_run_name=_run_name, log_prints=False, persist_result=False)
def archive_status(
    manifest: Text = field("Sponsor manifest"),
    sponsor: SponsorScope = field("Sponsor", default=EVERY_SPONSOR),
    environment: EnvironmentScope = field("Environment", default="all"),
) -> list[dict[str, Any]]:
    """Walk each enabled sponsor's hash chain, then publish one status line per sponsor and environment.

    Args:
        manifest: The sponsor manifest for "every sponsor". Empty: ARCHIVAL_MANIFEST, else sponsors.yaml.
        sponsor: Only this sponsor instead of every sponsor of the manifest.
        environment: Only this environment; "all": each sponsor's environments.
    """
    only = environment_filter(environment)
    try:
        if sponsor and sponsor != EVERY_SPONSOR:
            configs = [resolve_config(sponsor=sponsor, environment=only)]
        else:
            configs = resolve_manifest(manifest or str(load_settings().archival_manifest), only)
    except ArchivalError as exc:  # a bad manifest or sponsor: its sentence, no traceback
        return failed(exc)
    rows = []
    for config in configs:
        enabled = decide(config).enabled
        walked = _walk_chain(config) if enabled else None
        rows.append(build_row(config, enabled, read_ledgers(config.sponsor, config.environment), walked))
    create_table_artifact(
        key="archive-status",
        table=[dict(zip(HEADER, row.cells(), strict=True)) for row in rows],
        description="Each sponsor's last archive, size trend, last drill, hash chain, expectations and "
        "open incidents.",
    )
    return [row.as_dict() for row in rows]


def _walk_chain(config) -> dict[str, Any]:
    """Walk and report the chain; what the row shows of it, whether or not a ledger records it."""
    from hht_archival import alert_events
    from hht_archival.adapters import s3
    from hht_archival.chain_verify import verify_chain
    from hht_archival.errors import one_sentence
    from hht_archival.progress import announce

    at = alert_events.iso(alert_events.now_utc())
    try:
        client = s3.client_for(config)
        chain = verify_chain(client, config.audit_logs_bucket, config.environment, config.sponsor)
    except Exception as exc:  # unreadable is not broken: the row says why, nothing is reported
        announce("Hash chain of %s (%s) not checked: %s", config.sponsor, config.environment, exc)
        return {"at": at, "error": one_sentence(exc)}
    report_chain(config, chain.problems, chain.logs)
    return {"at": at, "broken": bool(chain.problems), "logs": chain.logs}
