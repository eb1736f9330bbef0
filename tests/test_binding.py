"""Which settings a sponsor's run may read: its own, never another sponsor's (blocks/binding.py, config.py).

The environment here is callisto's Doppler project (SPONSOR unset: callisto is the
home sponsor), as on a worker that also serves titan.
"""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from blocks.config import resolve_config
from blocks.flag import decide_flag
from blocks.manifest import ManifestSettings
from blocks.sponsor import SponsorBlockValues
from hht_archival.adapters.s3 import make_client
from hht_archival.errors import ConfigError

CALLISTO_URL = "postgresql://backup:callisto-pw@db/callisto"


@pytest.fixture(autouse=True)
def callistos_environment(monkeypatch):
    monkeypatch.delenv("SPONSOR")
    monkeypatch.setenv("DATABASE_URL", CALLISTO_URL)
    monkeypatch.setenv("ENABLE_S3_BACKUP_ARCHIVAL", "true")
    monkeypatch.setenv("SPONSOR_BACKUPS_BUCKET", "callisto-own-backups")
    monkeypatch.setenv("SPONSOR_AWS_REGION", "eu-central-1")


def test_the_unprefixed_settings_belong_to_the_sponsor_sponsor_names():
    callisto = resolve_config()
    assert (callisto.sponsor, callisto.backups_bucket, callisto.region) == (
        "callisto",
        "callisto-own-backups",
        "eu-central-1",
    )
    assert callisto.database_url.get_secret_value() == CALLISTO_URL
    assert callisto.refusals == {}
    assert callisto.sources["database"] == "environment DATABASE_URL"
    assert callisto.sources["aws_identity"] == "environment AWS_ACCESS_KEY_ID"


def test_another_sponsor_reads_none_of_them_and_cannot_archive():
    titan = resolve_config(sponsor="titan")
    assert titan.database_url is None
    assert titan.backups_bucket == "hht-diary-backups-titan-eu-west-1"  # not callisto's bucket or region
    assert titan.sources["backups_bucket"] == "default" and titan.sources["region"] == "default"
    assert decide_flag(titan.flag, "titan", "production").enabled is False  # callisto's flag is callisto's
    assert titan.refusals["database"] == (
        "No database URL is bound to sponsor titan (DATABASE_URL belongs to sponsor callisto, which "
        "SPONSOR names); archival is enabled, so set TITAN_DATABASE_URL, or name a Secret block in titan's "
        "sponsor block."
    )
    assert titan.refusals["aws_identity"].startswith(
        "No AWS credentials are bound to sponsor titan: AWS_ACCESS_KEY_ID belongs to sponsor callisto "
        "(SPONSOR); set TITAN_AWS_ACCESS_KEY_ID and TITAN_AWS_SECRET_ACCESS_KEY"
    )
    with pytest.raises(ConfigError, match="No database URL is bound to sponsor titan"):
        titan.require_archivable()
    with pytest.raises(ConfigError, match="No AWS credentials are bound to sponsor titan"):
        make_client(titan.region, titan.aws_credentials)  # list, restore, verify: never callisto's keys


def test_a_sponsors_own_prefixed_variables_bind_it(monkeypatch):
    monkeypatch.setenv("TITAN_DATABASE_URL", "postgresql://backup:titan-pw@db/titan")
    monkeypatch.setenv("TITAN_ENABLE_S3_BACKUP_ARCHIVAL", "yes")
    monkeypatch.setenv("TITAN_AWS_ACCESS_KEY_ID", "titan-key")
    monkeypatch.setenv("TITAN_AWS_SECRET_ACCESS_KEY", "titan-secret")

    titan = resolve_config(sponsor="titan")
    assert titan.database_url.get_secret_value() == "postgresql://backup:titan-pw@db/titan"
    assert decide_flag(titan.flag, "titan", "production").enabled is True
    assert titan.flag.environment_variable == "TITAN_ENABLE_S3_BACKUP_ARCHIVAL"
    assert titan.aws_credentials.access_key_id == "titan-key"
    assert titan.sources["aws_identity"] == "environment TITAN_AWS_ACCESS_KEY_ID"
    assert titan.refusals == {}
    assert "titan-secret" not in repr(titan) and "titan-pw" not in repr(titan)
    credentials = titan.aws_credentials.get_boto3_session("eu-west-1").get_credentials()
    assert (credentials.access_key, credentials.secret_key) == ("titan-key", "titan-secret")


def test_half_a_key_pair_is_one_sentence(monkeypatch):
    monkeypatch.setenv("TITAN_AWS_ACCESS_KEY_ID", "titan-key")
    with pytest.raises(ConfigError) as info:
        resolve_config(sponsor="titan")
    assert str(info.value) == (
        "TITAN_AWS_ACCESS_KEY_ID is set for sponsor titan but TITAN_AWS_SECRET_ACCESS_KEY is not; set both "
        "(or TITAN_AWS_PROFILE instead)."
    )


def test_without_any_keys_in_the_environment_a_sponsor_uses_the_machines_identity(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    titan = resolve_config(sponsor="titan")
    assert titan.aws_credentials is None and "aws_identity" not in titan.refusals
    assert titan.sources["aws_identity"].startswith("the machine's")


def test_an_env_prefix_parameter_must_be_the_sponsors_own(monkeypatch):
    monkeypatch.setenv("CALLISTO_DATABASE_URL", CALLISTO_URL)
    with pytest.raises(ConfigError) as info:
        resolve_config(sponsor="titan", env_prefix="CALLISTO_")
    assert str(info.value) == (
        "env_prefix CALLISTO_ is not sponsor titan's own (TITAN_); a run's parameters can only name the "
        "sponsor's own settings: declare other mappings in the sponsor manifest."
    )
    assert resolve_config(sponsor="titan", env_prefix="TITAN_").sponsor == "titan"


def test_the_manifest_may_declare_another_prefix_and_reads_only_that(monkeypatch):
    monkeypatch.setenv("TENANT7_DATABASE_URL", "postgresql://backup@db/titan")
    entry = ManifestSettings(path="sponsors.yaml", default_region="us-east-1", env_prefix="TENANT7_")
    titan = resolve_config(sponsor="titan", manifest=entry)
    assert titan.database_url.get_secret_value() == "postgresql://backup@db/titan"
    assert titan.sources["database"] == "environment TENANT7_DATABASE_URL"


def test_what_is_bound_to_the_sponsor_wins_over_the_manifest(monkeypatch):
    manifest = ManifestSettings(path="sponsors.yaml", default_region="us-east-1", region="eu-north-1")
    monkeypatch.setenv("TITAN_SPONSOR_AWS_REGION", "eu-south-1")
    assert resolve_config(sponsor="titan", manifest=manifest).sources["region"] == (
        "environment TITAN_SPONSOR_AWS_REGION"
    )
    monkeypatch.delenv("TITAN_SPONSOR_AWS_REGION")
    from_entry = resolve_config(sponsor="titan", manifest=manifest)
    assert (from_entry.region, from_entry.sources["region"]) == ("eu-north-1", "manifest sponsors.yaml")
    defaults_only = ManifestSettings(path="sponsors.yaml", default_region="us-east-1")
    block = SponsorBlockValues(sponsor="titan", name="titan", region="ap-south-1")
    from_block = resolve_config(sponsor="titan", manifest=defaults_only, sponsor_block=block)
    assert (from_block.region, from_block.sources["region"]) == ("ap-south-1", "block titan")


def test_a_block_of_another_sponsor_is_refused():
    block = SponsorBlockValues(
        sponsor="callisto",
        name="callisto",
        database_url=SecretStr(CALLISTO_URL),
        enable_s3_backup_archival=True,
    )
    with pytest.raises(ConfigError) as info:
        resolve_config(sponsor="titan", sponsor_block=block)
    assert str(info.value) == (
        "The sponsor block callisto belongs to sponsor callisto, not titan; name titan's own block, or leave "
        "the sponsor empty to use the block's."
    )
