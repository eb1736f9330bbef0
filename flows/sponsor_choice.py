"""Which sponsor a run started from a form means: the manifest's sponsors as the form's choices, and no
guess on a worker that serves several.

Why here and not in blocks/: both questions are about a run started from a
deployment. ``prefect deploy`` draws every form in the deploying clone, so the
manifest there (ARCHIVAL_MANIFEST, else sponsors.yaml: commit it, since workers
run the deployed commit) becomes the drop-down of sponsors. And a run whose
sponsor was left empty used to archive whichever sponsor SPONSOR names on the
worker that happened to take it; on a worker that serves several sponsors (its
manifest, or another sponsor's variables) that is a guess, so the run is
refused in one sentence instead. A worker that serves one sponsor, and the
command line (a person's own shell), keep the seed's "empty means SPONSOR".
"""

import functools
import os
import socket
from pathlib import Path

from blocks.defaults import home_sponsor
from hht_archival.errors import ConfigError

MANIFEST_VARIABLE = "ARCHIVAL_MANIFEST"
DEFAULT_MANIFEST = "sponsors.yaml"
NO_SPONSOR = "(none chosen)"  # a failed log's sponsor when none was chosen: nobody's incident, no key
# Variables that name another sponsor's database or flag (TITAN_DATABASE_URL); ours that look alike.
_SPONSOR_SUFFIXES = ("_DATABASE_URL", "_ENABLE_S3_BACKUP_ARCHIVAL")
_NOT_SPONSORS = {"ARCHIVAL_DRILL", "TEST"}


class NoSponsorChosen(ConfigError):
    """A deployment's run with an empty sponsor on a worker that serves several sponsors."""


def manifest_path() -> Path:
    """The manifest this process reads by default, as the nightly does (read raw: this must never fail)."""
    return Path(os.environ.get(MANIFEST_VARIABLE, "").strip() or DEFAULT_MANIFEST)


def manifest_sponsors(path: Path | None = None) -> list[str]:
    """The sponsors of the manifest at ``path`` (default: ``manifest_path()``), in its order; [] without one.

    Read when a form is drawn (on import and at deploy): a missing or invalid
    manifest leaves the sponsor a text field rather than breaking the import.
    """
    path = path or manifest_path()
    try:
        if not path.is_file():
            return []
        from blocks.manifest_file import load_manifest

        return [entry.name for entry in load_manifest(path).sponsors]
    except Exception:  # an invalid manifest is reported by the runs that use it, not by a form
        return []


def served_sponsors() -> list[str]:
    """The sponsors this machine can archive: SPONSOR's, the manifest's, and those its variables bind."""
    served = [home_sponsor(), *manifest_sponsors()]
    for name in os.environ:
        for suffix in _SPONSOR_SUFFIXES:
            prefix = name.removesuffix(suffix)
            if prefix != name and prefix and prefix not in _NOT_SPONSORS and os.environ[name].strip():
                served.append(prefix.lower().replace("_", "-"))
    return sorted(set(served), key=served.index)


_RUNTIME_OVERRIDE = "PREFECT__RUNTIME__DEPLOYMENT__ID"  # Prefect's runtime reads this first, if set


def in_deployment_run() -> bool:
    """True in a run a worker took from a deployment (the form, the nightly, CI), not the command line.

    Answered from the flow run Prefect's engine holds where it can: Prefect's
    runtime asks the API for the flow run at every question in a run with no
    deployment (the command line's), about 40 ms each. Only a subflow (one
    sponsor of an all-sponsors run) asks it, once, for its parent's deployment.
    """
    try:
        from prefect.context import FlowRunContext

        context = FlowRunContext.get()
        if context is None or context.flow_run is None or os.environ.get(_RUNTIME_OVERRIDE):
            return _ask_prefect()
        if context.flow_run.deployment_id is not None:
            return True
        if context.flow_run.parent_task_run_id is None:  # a run of its own, of no deployment
            return False
        return _asked_for_flow_run(context.flow_run.id)
    except Exception:
        return False


@functools.lru_cache(maxsize=32)
def _asked_for_flow_run(flow_run_id) -> bool:  # noqa: ARG001 (the cache's key)
    return _ask_prefect()


def _ask_prefect() -> bool:
    from prefect.runtime import deployment

    return bool(deployment.id)


def unchosen_refusal(sponsor: str | None) -> NoSponsorChosen | None:
    """The refusal of an empty sponsor in a deployment's run on a worker serving several, else None."""
    if sponsor or not in_deployment_run():
        return None
    served = served_sponsors()
    if len(served) < 2:
        return None
    shown = ", ".join(served[:6]) + (f" and {len(served) - 6} more" if len(served) > 6 else "")
    return NoSponsorChosen(
        f"No sponsor was chosen for this run, and worker {socket.gethostname()} serves several ({shown}); "
        "choose the sponsor in the run's form (sponsor=NAME from the API) and run again."
    )


def run_label(sponsor: str | None) -> str:
    """The sponsor a run's name shows: the chosen one, the worker's own, or ``no-sponsor`` when refused."""
    if sponsor:
        return sponsor
    return "no-sponsor" if unchosen_refusal(sponsor) else home_sponsor()
