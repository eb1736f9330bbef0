"""doctor: the same checks as ``hht-archival doctor``, as a flow an operator runs from the Prefect UI.

The results land as a table artifact; the run fails when an enabled run would.
"""

from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run

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
from flows.sponsor_choice import manifest_path, unchosen_refusal
from hht_archival.doctor import passed
from hht_archival.doctor_targets import check_targets
from hht_archival.errors import ArchivalError
from tasks.check_flag import decide


def _run_name() -> str:
    """``readiness-titan-production``, ``readiness-every-sponsor`` (every environment), as chosen."""
    return scope_run_name("readiness", flow_run.parameters or {})


@flow(name="doctor", flow_run_name=_run_name, log_prints=False, persist_result=False)
def doctor_flow(
    sponsor: SponsorScope = field("Sponsor", default=EVERY_SPONSOR),
    environment: EnvironmentScope = field("Environment", default="all"),
    manifest: Text = field("Sponsor manifest"),
) -> list[dict[str, Any]]:
    """Check that archival can be enabled safely, for one sponsor or every sponsor of a manifest.

    Args:
        sponsor: "every sponsor": each sponsor of the manifest. Empty: the worker's SPONSOR, refused on a
            worker that serves several sponsors.
        environment: Only this environment; "all": each sponsor's environments in the manifest (for one
            sponsor: DEPLOYMENT_ENVIRONMENT, else production).
        manifest: The sponsor manifest for "every sponsor". Empty: ARCHIVAL_MANIFEST, else sponsors.yaml.
    """
    only = environment_filter(environment)
    try:  # each sponsor resolved as its runs resolve it (hht_archival/doctor_targets.py)
        if sponsor == EVERY_SPONSOR:
            rows = check_targets(None, only, manifest or str(manifest_path()), decide)
        else:
            refusal = unchosen_refusal(sponsor)
            if refusal:
                raise refusal
            rows = check_targets(sponsor or None, only, None, decide)
    except ArchivalError as exc:  # a refusal or a bad manifest: its sentence, no traceback
        return failed(exc)
    table = [row.as_dict() for row in rows]
    create_table_artifact(key="doctor", table=table, description="Readiness checks for S3 backup archival.")
    if not passed(rows):
        failures = [
            f"{r.sponsor} ({r.environment}) {r.check}: {r.detail}; fix: {r.fix}"
            for r in rows
            if r.status == "fail"
        ]
        return failed(ArchivalError(f"{len(failures)} check(s) failed: " + " | ".join(failures)))
    return table
