"""run --manifest: every sponsor of a manifest, a few at a time, each with its own flag and log.

Kept apart from running.py, whose one-sponsor path resolves a configuration
before any engine starts; here each sponsor's run resolves its own inside the
archive-all-sponsors flow, and only the manifest itself is checked first.
"""

from __future__ import annotations

import traceback

from hht_archival.cli import EXIT_BAD_INPUT, EXIT_FAILED, fail
from hht_archival.cli.outputs import leave_if_prefect_api_lost, print_sponsor_runs
from hht_archival.console import attach_console


def run_manifest(manifest, only, environment, max_parallel, log_dir, debug) -> None:
    """Each sponsor of ``manifest`` (filtered), as archive-all-sponsors' child runs in this process."""
    from blocks.manifest import expand, load_manifest
    from hht_archival.engine import EngineUnavailable, start_prefect_api
    from hht_archival.errors import ArchivalError, one_sentence
    from hht_archival.record import utc_now_iso

    started_at = utc_now_iso()
    sponsors = [name.strip() for name in only.split(",") if name.strip()] if only else None
    environments = [environment] if environment else None
    try:
        runs = expand(load_manifest(manifest), sponsors, environments, path=manifest)
    except ArchivalError as exc:
        fail(str(exc), None, EXIT_BAD_INPUT)
    if not runs:
        fail(
            f"No sponsor in {manifest} matches the filters; check --sponsors and --environment.",
            None,
            EXIT_BAD_INPUT,
        )
    whose = "sponsors " + ", ".join(sorted({run.sponsor for run in runs}))
    api_ready = start_prefect_api(whose, debug)  # the imports below overlap its start
    from flows.archive_all_sponsors import SponsorsFailed, archive_all_sponsors, never_started
    from hht_archival.stopping import requested
    from hht_archival.unorchestrated import record_config_failure

    if not debug:
        attach_console(prefix_runs=True)
    try:
        api_ready()
    except EngineUnavailable as exc:
        for run in runs:  # every sponsor's run still leaves its log, in its own directory
            record_config_failure(exc, run.sponsor, run.environment, log_dir, started_at)
        fail(str(exc), None, EXIT_FAILED)
    except BaseException:
        stop = requested()  # Ctrl-C while the embedded API started: no sponsor's run began
        if stop is None:
            raise
        for run in runs:
            never_started(run, stop, log_dir)
        fail(f"hht-archival run was {stop} before any sponsor's run started.", None, stop.exit_code)
    try:
        summary = archive_all_sponsors(
            manifest=manifest,
            sponsors=sponsors,
            environments=environments,
            max_parallel=max_parallel,
            log_dir=log_dir,
        )
    except SponsorsFailed as exc:  # or SponsorsStopped: 130/143
        if debug:
            traceback.print_exception(exc)
        print_sponsor_runs(exc.summary)
        fail(str(exc), None, getattr(exc, "exit_code", EXIT_FAILED))
    except Exception as exc:
        if debug:
            traceback.print_exc()
        leave_if_prefect_api_lost(exc, whose, log_dir)
        fail(one_sentence(exc), None, EXIT_FAILED)
    print_sponsor_runs(summary)
