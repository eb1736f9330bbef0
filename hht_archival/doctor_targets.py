"""Which sponsors doctor checks, each resolved exactly as the run it stands for resolves it.

Why: doctor is only worth reading if it agrees with ``run`` row by row. ``run
--sponsor S`` resolves with flows.parameters.resolve_named, and so does every
sponsor run of ``run --manifest`` and of the nightly (its sponsor, its
environment and the manifest's path, nothing else); doctor calls the same
function with the same arguments, so a sponsor's flag, variables, block and
buckets cannot differ between the two. A sponsor whose settings do not
resolve (a missing block, a bad flag value) is one ❌ row with the sentence its
run would fail with, and the others are still checked, as ``run --manifest``
goes on with them.

A sponsor name that nothing here knows (not SPONSOR, not in the manifest, no
variable of its own) but that is close to one that is, is most likely a typo:
it is refused with the closest known name, rather than checked as a new
sponsor whose every row asks for CALISTO_* variables.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from pathlib import Path

from blocks.binding import AWS_KEY_VARIABLES, SPONSOR_VARIABLES, own_prefix
from blocks.defaults import home_sponsor
from blocks.flag import FlagDecision
from hht_archival.doctor import Check, run_checks
from hht_archival.errors import ArchivalError, ConfigError
from hht_archival.naming import validate_sponsor

_SUFFIXES = tuple(SPONSOR_VARIABLES.values()) + AWS_KEY_VARIABLES


def known_sponsors(manifest: Path | str | None = None) -> set[str]:
    """Every sponsor this machine knows of: SPONSOR, the manifest's entries, and prefixed variables seen."""
    from blocks.config import load_settings
    from blocks.manifest import load_manifest

    known = {home_sponsor()}
    path = Path(manifest or load_settings().archival_manifest)
    if path.is_file():
        try:
            known |= {entry.name for entry in load_manifest(path).sponsors}
        except ArchivalError:
            pass  # a broken manifest is the nightly manifest row's to report
    for name, value in os.environ.items():
        for suffix in _SUFFIXES:
            if value.strip() and name.endswith("_" + suffix):
                candidate = name[: -len(suffix) - 1].lower().replace("_", "-")
                try:
                    known.add(validate_sponsor(candidate))
                except ConfigError:
                    pass
    return known


def refuse_a_likely_typo(sponsor: str | None, command: str) -> None:
    """Stop when ``sponsor`` is unknown here but close to a known name; a new one, with no near name, passes.

    ``command`` is what to type instead, with the suggestion in place of {sponsor}.
    """
    if not sponsor:
        return
    try:
        validate_sponsor(sponsor)
    except ConfigError:
        return  # the resolver says what is wrong with the name itself
    known = known_sponsors()
    if sponsor in known:
        return
    close = difflib.get_close_matches(sponsor, sorted(known), n=1, cutoff=0.75)
    if not close:
        return
    from blocks.config import load_settings

    manifest = load_settings().archival_manifest
    raise ConfigError(
        f"Sponsor {sponsor} is not known here (it is not SPONSOR, not in {manifest}, and no "
        f"{own_prefix(sponsor)}* variable is set); did you mean {close[0]}? "
        f"Run: {command.format(sponsor=close[0])}"
    )


def check_targets(
    sponsor: str | None,
    environment: str | None,
    manifest: str | None,
    decide: Callable[..., FlagDecision],
    sponsor_block: str | None = None,
) -> list[Check]:
    """doctor's rows for one sponsor, or for each (sponsor, environment) of a manifest.

    A broken manifest, or one sponsor's unresolvable settings without a
    manifest, raise their one sentence (nothing to check); with a manifest, a
    sponsor that does not resolve becomes its own ❌ row.
    """
    from flows.parameters import SponsorParameters, resolve_named, sponsor_run_parameters

    if manifest is None:
        if sponsor_block is None:
            refuse_a_likely_typo(sponsor, "hht-archival doctor --sponsor {sponsor}")
        config = resolve_named(sponsor=sponsor, environment=environment, sponsor_block=sponsor_block)
        return run_checks(config, decide(config))
    from blocks.manifest import expand, load_manifest

    rows: list[Check] = []
    for run in expand(load_manifest(manifest), None, [environment] if environment else None, path=manifest):
        try:  # what archive-sponsor does with the parameters the nightly and run --manifest hand it
            config = resolve_named(**SponsorParameters(**sponsor_run_parameters(run)).chosen())
            decision = decide(config)
        except ArchivalError as exc:
            rows.append(Check(run.sponsor, run.environment, "settings", "fail", str(exc)))
            continue
        rows.extend(run_checks(config, decision))
    return rows
