"""doctor's rows for a sponsor's own settings: the flag, the database URL, the buckets, each with its source.

Why apart from doctor.py: these rows must say what ``run`` would do with the
same configuration, in the run's own words, and name the variable *this*
sponsor reads. A sponsor's variables sit behind its prefix (TITAN_...), or
behind the prefix its manifest entry declares, and only the home sponsor
(SPONSOR) reads the seed's unprefixed names: a fix that says "set
DATABASE_URL" to a sponsor that does not read DATABASE_URL sends a person
round in circles. ``SponsorConfig.variable_prefixes`` says which names are
read, in order; a seed name that is set but not read here is named, with why.
"""

from __future__ import annotations

import os

from blocks.binding import identity_remedy, no_database_refusal
from blocks.config import SponsorConfig
from blocks.defaults import home_sponsor
from blocks.flag import FlagDecision, prefect_variable_name
from hht_archival.adapters.postgres import mask_url
from hht_archival.engine import configured_api_url
from hht_archival.flag_here import reads_seed_names, variable_to_set

FLAG = "ENABLE_S3_BACKUP_ARCHIVAL"


def identity_fix(config: SponsorConfig) -> str:
    """How to give this sponsor's runs a cloud identity, naming the variables it reads."""
    return identity_remedy(config.sponsor, "" if reads_seed_names(config) else config.variable_prefixes[0])


def unread(config: SponsorConfig, name: str) -> str | None:
    """A seed variable that is set but that this sponsor's runs do not read, and why; None otherwise."""
    if reads_seed_names(config) or not os.environ.get(name, "").strip():
        return None
    if config.sponsor == home_sponsor():
        return (
            f"{name} is set but not read for {config.sponsor}: its manifest entry declares the prefix "
            f"{config.variable_prefixes[0]}"
        )
    return f"{name} is set but belongs to sponsor {home_sponsor()} (SPONSOR)"


def check_settings(config: SponsorConfig, flag: FlagDecision, add) -> None:
    """The flag, the database URL and the buckets, as the run of ``config`` would resolve them."""
    _check_flag(config, flag, add)
    _check_database_url(config, flag, add)
    sources = config.sources
    add(
        "buckets",
        "ok",
        f"{config.backups_bucket} (from {sources.get('backups_bucket')}), {config.audit_logs_bucket} "
        f"(from {sources.get('audit_logs_bucket')}) in {config.region} (from {sources.get('region')})",
    )


def _check_flag(config: SponsorConfig, flag: FlagDecision, add) -> None:
    """Enabled or not, and from where, as the run decides it (hht_archival/flag_here.py); off is advice."""
    where = {
        "environment": f"environment {config.flag.environment_variable}",
        "prefect-variable": f"Prefect variable {prefect_variable_name(config.sponsor, config.environment)}",
        "block": "sponsor block",
    }.get(flag.source, flag.source)
    detail = f"{'enabled' if flag.enabled else 'disabled'} (from {where})"
    if flag.source == "default":
        names = [variable_to_set(config, FLAG)]
        if reads_seed_names(config) and config.variable_prefixes:
            names.append(config.variable_prefixes[0] + FLAG)
        if configured_api_url() is not None:
            variable = prefect_variable_name(config.sponsor, config.environment)
            names.append(f"the Prefect variable {variable} (a server is configured here)")
        detail += f": nothing sets {' or '.join(names)}"
        ignored = unread(config, FLAG)
        if ignored:
            detail += f"; {ignored}"
    add("feature flag", "ok" if flag.enabled else "warn", detail)


def _check_database_url(config: SponsorConfig, flag: FlagDecision, add) -> None:
    """The URL (masked) and its source; when none is bound, the sentence the enabled run stops with."""
    if config.database_url is not None:
        shown = mask_url(config.database_url.get_secret_value())
        add("database URL", "ok", f"{shown} (from {config.sources.get('database')})")
        return
    variable = variable_to_set(config, "DATABASE_URL")
    sentence = config.refusals.get("database") if flag.enabled else None
    if reads_seed_names(config):
        fix = (
            "doppler secrets set DATABASE_URL=postgresql://USER@HOST/DB "
            f"--project hht-diary-{config.sponsor} --config {config.environment}"
        )
    else:
        fix = f"set {variable}=postgresql://USER@HOST/DB, or name a Secret block in {config.sponsor}'s block"
    add("database URL", "fail", sentence or no_database_refusal(config.sponsor, variable, enabled=False), fix)
