"""The sponsor manifest: what it accepts, and the one sentence for each mistake."""

from __future__ import annotations

import pytest

from blocks.manifest import expand, load_manifest
from flows.parameters import sponsor_run_parameters
from hht_archival.errors import ConfigError

GOOD = """\
defaults:
  region: eu-west-1
  environments: [production]
sponsors:
  - name: callisto
    env_prefix: CALLISTO_
    environments: [production, staging]
  - name: titan
    block: titan
    region: eu-central-1
"""


def _write(tmp_path, text):
    path = tmp_path / "sponsors.yaml"
    path.write_text(text)
    return path


def test_a_good_manifest_expands_to_one_parameter_set_per_sponsor_and_environment(tmp_path):
    path = _write(tmp_path, GOOD)
    runs = expand(load_manifest(path), path=path)
    assert [(r.sponsor, r.environment, r.settings.region or r.settings.default_region) for r in runs] == [
        ("callisto", "production", "eu-west-1"),
        ("callisto", "staging", "eu-west-1"),
        ("titan", "production", "eu-central-1"),
    ]
    assert (runs[0].settings.env_prefix, runs[2].settings.block) == ("CALLISTO_", "titan")
    # A child run gets only the sponsor and the manifest: it reads its own entry, no prefix or block.
    assert sponsor_run_parameters(runs[0]) == {
        "sponsor": "callisto",
        "environment": "production",
        "manifest": str(path),
    }


def test_filters_pick_sponsors_and_environments(tmp_path):
    manifest = load_manifest(_write(tmp_path, GOOD))
    picked = expand(manifest, ["callisto"], ["staging"])
    assert [(r.sponsor, r.environment) for r in picked] == [("callisto", "staging")]
    with pytest.raises(
        ConfigError, match="Sponsor 'europa' is not in the manifest; use one of callisto, titan"
    ):
        expand(manifest, ["europa"])


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            GOOD.replace("environments: [production, staging]", "enviroments: [production]"),
            "line 5 (sponsor callisto): unknown field 'enviroments'; did you mean 'environments'?",
        ),
        (
            GOOD + "  - name: callisto\n",
            "line 11: sponsor callisto is listed twice (first at line 5); merge the two entries.",
        ),
        (GOOD.replace("name: titan", "name: Titan"), "Sponsor name 'Titan' is invalid"),
        (
            GOOD.replace("block: titan", "backups_bucket: Titan_Backups"),
            "line 8: backups_bucket='Titan_Backups' for sponsor titan is not a valid S3 bucket name",
        ),
        (
            GOOD.replace("[production, staging]", "[production, prod]"),
            "line 5 (sponsor callisto): environments.1 is invalid",
        ),
        (
            GOOD.replace("CALLISTO_", "callisto"),
            "line 5 (sponsor callisto): env_prefix is invalid (env_prefix 'callisto' must be uppercase",
        ),
        ("sponsors: []\n", "sponsors is invalid (List should have at least 1 item"),
        ("sponsors:\n  - name: a\n    region: [unclosed\n", "line 4 is not valid YAML"),
        ("sponsors: !!python/object/apply:os.system ['echo pwned']\n", "is not valid YAML"),
        ("- just\n- a list\n", "must be a mapping with a 'sponsors' list"),
        ("sponsor:\n  - name: titan\n", "unknown field 'sponsor'; did you mean 'sponsors'?"),
    ],
)
def test_each_mistake_gets_one_sentence_naming_file_and_place(tmp_path, text, expected):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_manifest(path)
    message = str(info.value)
    assert message.startswith(f"Sponsor manifest {path}")
    assert expected in message
    assert "\n" not in message


def test_yaml_anchors_are_plain_data(tmp_path):
    text = "defaults: &d\n  region: eu-west-1\nsponsors:\n  - name: titan\n    region: *r\n"
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_manifest(_write(tmp_path, text))  # an undefined alias is a YAML error, not a crash
    ok = "x-region: &r eu-north-1\nsponsors:\n  - name: titan\n    region: *r\n"
    with pytest.raises(ConfigError, match="unknown field 'x-region'"):
        load_manifest(_write(tmp_path, ok))


def test_a_missing_manifest_says_how_to_make_one(tmp_path):
    with pytest.raises(ConfigError, match="does not exist; create it \\(see sponsors.example.yaml\\)"):
        load_manifest(tmp_path / "nope.yaml")


def test_the_example_manifest_is_valid():
    from pathlib import Path

    runs = expand(load_manifest(Path(__file__).parents[1] / "sponsors.example.yaml"))
    assert {r.sponsor for r in runs} == {"callisto", "titan"}


def test_a_drill_server_in_the_manifest_binds_to_its_sponsor_but_never_with_a_password(tmp_path, monkeypatch):
    """The manifest is committed: a scratch server's URL may be there, its password may not."""
    from blocks.config import resolve_config
    from blocks.manifest import manifest_settings

    monkeypatch.setenv(
        "ARCHIVAL_DRILL_DATABASE_URL", "postgresql://postgres@home-scratch/postgres"
    )  # titan's
    path = _write(
        tmp_path, "sponsors:\n  - name: europa\n    drill_database_url: postgresql://postgres@scratch/pg\n"
    )
    config = resolve_config(sponsor="europa", manifest=manifest_settings(path, "europa"))
    assert config.drill_database_url.get_secret_value() == "postgresql://postgres@scratch/pg"
    assert config.sources["drill_database"] == f"manifest {path}"
    alone = resolve_config(sponsor="europa")  # not titan's (SPONSOR's) unprefixed server
    assert (alone.drill_database_url, alone.drill_variable) == (None, "EUROPA_ARCHIVAL_DRILL_DATABASE_URL")

    _write(
        tmp_path, "sponsors:\n  - name: europa\n    drill_database_url: postgresql://u:s3cret@scratch/pg\n"
    )
    with pytest.raises(ConfigError) as refused:
        load_manifest(path)
    assert str(refused.value) == (
        f"Sponsor manifest {path} line 2 (sponsor europa): drill_database_url is invalid (it carries a "
        "password, and the manifest is committed; put the password in the workers' ~/.pgpass, or the whole "
        "URL in EUROPA_ARCHIVAL_DRILL_DATABASE_URL on the workers instead); fix it and run again."
    )
    assert "s3cret" not in str(refused.value)
