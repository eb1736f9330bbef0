"""Configuration: flag spellings, the sentence for a bad one, and precedence of the sources."""

import pytest
from pydantic import SecretStr

from blocks.config import resolve_config
from blocks.sponsor import SponsorBlockValues
from hht_archival.errors import ConfigError
from tasks.check_flag import decide


@pytest.mark.parametrize("spelling", ["true", "TRUE", "1", "yes", "on", " On "])
def test_enabling_spellings(monkeypatch, spelling):
    monkeypatch.setenv("ENABLE_S3_BACKUP_ARCHIVAL", spelling)
    decision = decide(resolve_config())
    assert (decision.enabled, decision.source) == (True, "environment")


@pytest.mark.parametrize("spelling", ["false", "False", "0", "no", "off"])
def test_disabling_spellings(monkeypatch, spelling):
    monkeypatch.setenv("ENABLE_S3_BACKUP_ARCHIVAL", spelling)
    decision = decide(resolve_config())
    assert (decision.enabled, decision.source) == (False, "environment")


def test_a_bad_flag_value_names_the_variable_the_value_and_the_accepted_ones(monkeypatch):
    monkeypatch.setenv("ENABLE_S3_BACKUP_ARCHIVAL", "enabled")
    with pytest.raises(ConfigError) as info:
        resolve_config(sponsor="titan")
    assert str(info.value) == (
        "ENABLE_S3_BACKUP_ARCHIVAL='enabled' for sponsor titan is not a recognised value; "
        "use one of true, 1, yes, on to enable or false, 0, no, off to disable."
    )


def test_defaults_are_the_seeds(monkeypatch):
    monkeypatch.delenv("SPONSOR")
    config = resolve_config()
    assert config.sponsor == "callisto"
    assert config.environment == "production"
    assert config.region == "eu-west-1"
    assert config.backups_bucket == "hht-diary-backups-callisto-eu-west-1"
    assert config.audit_logs_bucket == "hht-diary-audit-logs-callisto-eu-west-1"
    assert config.database_url is None


def test_the_unprefixed_settings_are_the_home_sponsors_and_parameters_override_them(monkeypatch):
    monkeypatch.setenv("SPONSOR_AWS_REGION", "eu-central-1")
    monkeypatch.setenv("SPONSOR_BACKUPS_BUCKET", "titan-backups-env")
    monkeypatch.setenv("ENABLE_S3_BACKUP_ARCHIVAL", "true")
    from_env = resolve_config()
    assert (from_env.sponsor, from_env.region, from_env.backups_bucket) == (
        "titan",
        "eu-central-1",
        "titan-backups-env",
    )
    assert from_env.audit_logs_bucket == "hht-diary-audit-logs-titan-eu-central-1"
    assert from_env.sources["backups_bucket"] == "environment SPONSOR_BACKUPS_BUCKET"
    assert from_env.sources["audit_logs_bucket"] == "default"

    from_params = resolve_config(enabled=False)
    assert decide(from_params).source == "parameter" and not decide(from_params).enabled


def test_a_named_sponsor_block_overrides_the_environment_but_not_parameters(monkeypatch):
    monkeypatch.setenv("SPONSOR_BACKUPS_BUCKET", "env-backups")
    monkeypatch.setenv("DATABASE_URL", "postgresql://env@db/env")
    monkeypatch.setenv("ENABLE_S3_BACKUP_ARCHIVAL", "false")

    block = SponsorBlockValues(
        sponsor="titan",
        name="titan-block",
        backups_bucket="block-backups",
        database_url=SecretStr("postgresql://block:pw@db/block"),
        enable_s3_backup_archival=True,
    )
    config = resolve_config(sponsor_block=block)
    assert config.backups_bucket == "block-backups"
    assert config.database_url.get_secret_value() == "postgresql://block:pw@db/block"
    assert config.sources["database"] == "block titan-block"
    assert (decide(config).enabled, decide(config).source) == (True, "block")

    overridden = resolve_config(sponsor_block=block, enabled=False)
    assert decide(overridden).source == "parameter"


def test_an_empty_flag_counts_as_unset(monkeypatch, prefect_harness):
    monkeypatch.setenv("ENABLE_S3_BACKUP_ARCHIVAL", "")
    decision = decide(resolve_config(sponsor="titan"))
    assert (decision.enabled, decision.source) == (False, "default")


def test_a_prefect_variable_switches_one_sponsor_and_environment(prefect_harness):
    from prefect.variables import Variable

    Variable.set("enable-s3-backup-archival-titan-staging", True, overwrite=True)
    try:
        assert decide(resolve_config(sponsor="titan", environment="staging")).source == "prefect-variable"
        assert decide(resolve_config(sponsor="titan", environment="staging")).enabled is True
        assert decide(resolve_config(sponsor="titan", environment="production")).source == "default"
    finally:
        Variable.unset("enable-s3-backup-archival-titan-staging")


@pytest.mark.parametrize(
    "name, value, expected",
    [
        (
            "DEPLOYMENT_ENVIRONMENT",
            "prod",
            "DEPLOYMENT_ENVIRONMENT='prod' for sponsor titan is not one of",
        ),
        ("SPONSOR", "../etc", "Sponsor name '../etc' is invalid"),
        (
            "SPONSOR_AUDIT_LOGS_BUCKET",
            "Audit_Logs",
            "SPONSOR_AUDIT_LOGS_BUCKET='Audit_Logs' for sponsor titan",
        ),
        ("ARCHIVAL_TASK_RETRIES", "many", "Environment variable ARCHIVAL_TASK_RETRIES is invalid"),
    ],
)
def test_bad_settings_are_refused_before_any_work(monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        resolve_config()
    assert str(info.value).startswith(expected)


def test_the_database_url_is_kept_secret_in_reprs(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:s3cr3t-pw@db/x")
    config = resolve_config()
    assert isinstance(config.database_url, SecretStr)
    assert "s3cr3t-pw" not in repr(config) and "s3cr3t-pw" not in str(config)


def test_a_sponsor_blocks_drill_server_secret_binds_it_over_the_environment(monkeypatch, prefect_harness):
    from prefect.blocks.system import Secret

    from blocks.sponsor import SponsorArchival, load_sponsor_block

    monkeypatch.setenv("ARCHIVAL_DRILL_DATABASE_URL", "postgresql://postgres@env-scratch/postgres")
    Secret(value="postgresql://drill:pw@block-scratch/postgres").save("titan-drill-server", overwrite=True)
    SponsorArchival(sponsor="titan", drill_database_url_secret="titan-drill-server").save(
        "titan-drills", overwrite=True
    )

    config = resolve_config(sponsor_block=load_sponsor_block("titan-drills"))

    assert config.drill_database_url.get_secret_value() == "postgresql://drill:pw@block-scratch/postgres"
    assert config.sources["drill_database"] == "block titan-drills"
    assert "pw" not in repr(config.drill_database_url)
    from_env = resolve_config(sponsor="titan")
    assert from_env.sources["drill_database"] == "environment ARCHIVAL_DRILL_DATABASE_URL"
