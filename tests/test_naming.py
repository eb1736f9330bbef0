"""Keys, names and validation: what lands where, and what is refused before any work."""

from datetime import UTC, datetime

import pytest

from hht_archival.adapters.s3 import MAX_PART_SIZE, MAX_PARTS, PartPlan, plan_parts
from hht_archival.errors import ConfigError
from hht_archival.naming import RunNames, validate_bucket, validate_sponsor

MIB = 1024 * 1024


def test_keys_follow_the_seed_layout_with_one_timestamp():
    names = RunNames("titan", "production", datetime(2025, 1, 12, 14, 30, 0, tzinfo=UTC))
    assert names.backup_key == "backups/2025/01/12/backup-prod-20250112-143000.sql.gz"
    assert names.roles_key == "backups/2025/01/12/backup-prod-20250112-143000.roles.json"
    assert names.log_key == "deployments/2025/01/12/deployment-prod-20250112-143000.json"
    assert names.log_filename == "deployment-prod-20250112-143000.json"
    assert names.timestamp == "2025-01-12T14:30:00Z"
    assert names.retain_until == "2032-01-12"


@pytest.mark.parametrize(
    "environment, short", [("production", "prod"), ("staging", "staging"), ("dev", "dev")]
)
def test_environment_short_names_in_keys(environment, short):
    names = RunNames("titan", environment, datetime(2026, 3, 1, tzinfo=UTC))
    assert f"/backup-{short}-20260301-000000.sql.gz" in names.backup_key


def test_retain_until_of_a_leap_day_falls_back_to_28_february():
    names = RunNames("titan", "dev", datetime(2028, 2, 29, 12, tzinfo=UTC))
    assert names.retain_until == "2035-02-28"


@pytest.mark.parametrize("name", ["callisto", "titan-2", "a", "x" * 40])
def test_valid_sponsor_names(name):
    assert validate_sponsor(name) == name


@pytest.mark.parametrize(
    "name", ["", "Titan", "../etc", "titan/../x", "-titan", "titan-", "ti tan", "x" * 41, "tіtan"]
)
def test_invalid_sponsor_names_are_refused_in_one_sentence(name):
    with pytest.raises(ConfigError) as info:
        validate_sponsor(name)
    message = str(info.value)
    assert repr(name) in message and "lowercase letters, digits and hyphens" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "bucket, problem",
    [
        ("ab", "3 to 63"),
        ("Hht-Backups", "lowercase"),
        ("hht..backups", "adjacent"),
        ("192.168.1.10", "IP address"),
        ("xn--hht", "xn--"),
        ("hht-backups-s3alias", "-s3alias"),
        ("hht_backups", "lowercase"),
    ],
)
def test_bucket_names_are_checked_against_s3_rules(bucket, problem):
    with pytest.raises(ConfigError) as info:
        validate_bucket(bucket, "SPONSOR_BACKUPS_BUCKET", "titan")
    assert problem in str(info.value)
    assert "SPONSOR_BACKUPS_BUCKET" in str(info.value) and "titan" in str(info.value)


def test_part_sizes_grow_so_a_stream_up_to_five_tib_fits_in_ten_thousand_parts():
    plan = plan_parts(16 * MIB)
    five_tib = 5 * 1024 * 1024 * MIB
    assert plan.size_of(1) == 16 * MIB
    assert plan.size_of(plan.step) == 16 * MIB  # small dumps keep the configured size
    assert plan.size_of(plan.step + 1) == 32 * MIB  # then the size doubles
    assert plan.capacity() >= five_tib
    assert sum(plan.size_of(n) for n in range(1, MAX_PARTS + 1)) == plan.capacity()
    assert PartPlan(16 * MIB, plan.step + 1).capacity() < five_tib  # the slowest growth that fits
    assert plan.size_of(MAX_PARTS) <= MAX_PART_SIZE
    assert plan.step * 16 * MIB > 19 * 1024 * MIB  # the first 19 GiB go in 16 MiB parts


def test_a_fixed_part_size_would_cap_the_object_but_the_plan_does_not():
    assert 8 * MIB * MAX_PARTS < 80 * 1024 * MIB  # about 78 GiB: the wall other tools hit
    assert plan_parts(8 * MIB).capacity() >= 5 * 1024 * 1024 * MIB
    with pytest.raises(ValueError):
        plan_parts(1, max_parts=2, max_object=10 * MIB)


def test_keys_are_built_and_read_back_by_one_scheme():
    """Every key the catalogue, restore and the hash chain read is parsed by the module that builds it."""
    from datetime import UTC, datetime

    from hht_archival.adapters.codecs import FORMATS
    from hht_archival.naming import BACKUP_EXTENSIONS, RunNames, log_key_for, parse_key, roles_key_for

    assert set(BACKUP_EXTENSIONS) == {f.extension for f in FORMATS.values()}
    for extension in BACKUP_EXTENSIONS:
        names = RunNames("titan", "staging", datetime(2031, 2, 28, 23, 59, 1, tzinfo=UTC), extension)
        backup, roles, log = parse_key(names.backup_key), parse_key(names.roles_key), parse_key(names.log_key)
        assert (backup.kind, roles.kind, log.kind) == ("backup", "roles", "log")
        assert backup.env_key == "staging" and backup.stamp == "20310228-235901"
        assert log_key_for(names.backup_key) == names.log_key
        assert roles_key_for(names.backup_key) == names.roles_key
    assert parse_key(names.chain_head_key) is None and parse_key("doctor/probe-1.txt") is None
    assert parse_key("backups/2031/02/28/backup-qa-20310228-235901.sql.gz") is None  # not an environment
