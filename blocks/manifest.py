"""The sponsor manifest (``sponsors.yaml``) as runs use it: each sponsor and environment to archive, and
what its entry binds to it (blocks/config.py reads that as one source of its settings).

Reading and validating the file is blocks/manifest_file.py's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from blocks.manifest_file import Manifest, SponsorEntry, load_manifest
from blocks.second_copy import SecondCopyEntry
from hht_archival.errors import ConfigError
from hht_archival.naming import ENVIRONMENT_KEYS

__all__ = [
    "ManifestSettings",
    "SponsorRun",
    "expand",
    "load_manifest",
    "manifest_settings",
    "resolve_manifest",
]


@dataclass(frozen=True)
class ManifestSettings:
    """What one manifest entry binds to its sponsor; configuration resolution reads it (blocks/config.py)."""

    path: str
    default_region: str
    region: str | None = None
    env_prefix: str | None = None
    block: str | None = None
    backups_bucket: str | None = None
    audit_logs_bucket: str | None = None
    drill_database_url: str | None = None  # without a password (blocks/manifest_file.py refuses one)
    copy2: SecondCopyEntry | None = None  # its second destination (blocks/second_copy.py)


@dataclass(frozen=True)
class SponsorRun:
    """One (sponsor, environment) of the all-sponsors flow; its run's parameters: flows/parameters.py."""

    sponsor: str
    environment: str
    settings: ManifestSettings


def expand(
    manifest: Manifest,
    only: list[str] | None = None,
    environments: list[str] | None = None,
    path: Path | str | None = None,
) -> list[SponsorRun]:
    """The parameter sets to map over: each sponsor x each of its environments, optionally filtered.

    ``path`` is the manifest's own, which each child run reads its sponsor's entry from.
    """
    known = {entry.name for entry in manifest.sponsors}
    unknown = [name for name in (only or []) if name not in known]
    if unknown:
        raise ConfigError(
            f"Sponsor {unknown[0]!r} is not in the manifest; use one of {', '.join(sorted(known))}."
        )
    for env in environments or []:
        if env not in ENVIRONMENT_KEYS:
            raise ConfigError(f"Environment {env!r} is not one of {', '.join(ENVIRONMENT_KEYS)}.")
    runs = []
    for entry in manifest.sponsors:
        if only and entry.name not in only:
            continue
        for env in entry.environments or manifest.defaults.environments:
            if environments and env not in environments:
                continue
            runs.append(SponsorRun(entry.name, env, _settings(manifest, entry, path)))
    return runs


def manifest_settings(path: Path | str, sponsor: str) -> ManifestSettings:
    """The entry of ``sponsor`` in the manifest at ``path``; one sentence if it is not there."""
    manifest = load_manifest(path)
    for entry in manifest.sponsors:
        if entry.name == sponsor:
            return _settings(manifest, entry, str(path))
    raise ConfigError(
        f"Sponsor {sponsor} is not in the sponsor manifest {path}; add it there, or run without the manifest."
    )


def _settings(manifest: Manifest, entry: SponsorEntry, path: Path | str | None) -> ManifestSettings:
    return ManifestSettings(
        path=str(path or ""),
        default_region=manifest.defaults.region,
        region=entry.region,
        env_prefix=entry.env_prefix,
        block=entry.block,
        backups_bucket=entry.backups_bucket,
        audit_logs_bucket=entry.audit_logs_bucket,
        drill_database_url=entry.drill_database_url,
        copy2=entry.copy2,
    )


def resolve_manifest(path: Path | str, environment: str | None = None) -> list:
    """Each (sponsor, environment) of the manifest as a resolved SponsorConfig (blocks loaded)."""
    from blocks.config import resolve_config
    from blocks.sponsor import load_sponsor_block

    configs = []
    for run in expand(load_manifest(path), None, [environment] if environment else None, path=path):
        block = load_sponsor_block(run.settings.block) if run.settings.block else None
        configs.append(
            resolve_config(
                sponsor=run.sponsor, environment=run.environment, sponsor_block=block, manifest=run.settings
            )
        )
    return configs
