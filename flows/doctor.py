"""doctor: the same checks as ``hht-archival doctor``, as a flow an operator runs from the Prefect UI.

The results land as a table artifact; the run fails when an enabled run would.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact

from hht_archival.doctor import passed
from hht_archival.doctor_targets import check_targets
from hht_archival.errors import ArchivalError
from tasks.check_flag import decide


@flow(name="doctor", log_prints=False, persist_result=False)
def doctor_flow(
    sponsor: str | None = None, environment: str | None = None, manifest: str | None = None
) -> list[dict[str, Any]]:
    """Check that archival can be enabled safely, for one sponsor or every sponsor of a manifest.

    Args:
        sponsor: Sponsor to check. Default SPONSOR, else callisto.
        environment: production, staging or dev. Default DEPLOYMENT_ENVIRONMENT, else production.
        manifest: Check every sponsor of this manifest instead of one sponsor.
    """
    rows = check_targets(sponsor, environment, manifest, decide)  # each resolved as its runs resolve it
    table = [row.as_dict() for row in rows]
    create_table_artifact(key="doctor", table=table, description="Readiness checks for S3 backup archival.")
    if not passed(rows):
        failed = [
            f"{r.sponsor} ({r.environment}) {r.check}: {r.detail}; fix: {r.fix}"
            for r in rows
            if r.status == "fail"
        ]
        raise ArchivalError(f"{len(failed)} check(s) failed: " + " | ".join(failed))
    return table
