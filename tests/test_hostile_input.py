"""Hostile input: whatever a sponsor name, bucket, flag or manifest holds, it is refused in one
sentence before any work, or accepted and kept inside its prefix and directory."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blocks.flag import FALSE_WORDS, TRUE_WORDS, parse_flag
from blocks.manifest import load_manifest
from hht_archival.errors import ConfigError
from hht_archival.naming import (
    ENVIRONMENT_KEYS,
    RunNames,
    validate_bucket,
    validate_environment,
    validate_sponsor,
)

TRICKY = st.sampled_from(
    [
        "../etc",
        "..",
        "titan/../../x",
        "titan\x00",
        "tіtan",
        "ＴＩＴＡＮ",
        "titan\n",
        " titan",
        "-",
        "a" * 500,
        "titan;rm -rf /",
        "$(whoami)",
        "%2e%2e%2f",
        "titan\\..\\x",
        "",
        "🩺",
        "callisto ",
        "CALLISTO",
    ]
)
TEXT = st.one_of(TRICKY, st.text(max_size=80), st.from_regex(r"[a-z0-9.-]{0,70}", fullmatch=True))


def _one_sentence(exc: ConfigError) -> None:
    message = str(exc)
    assert message and "\n" not in message and "Traceback" not in message


@given(TEXT)
def test_a_sponsor_name_is_refused_in_one_sentence_or_stays_inside_every_prefix(name):
    try:
        validate_sponsor(name)
    except ConfigError as exc:
        _one_sentence(exc)
        return
    assert re.fullmatch(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?", name) and len(name) <= 40
    names = RunNames(name, "production", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    for key in (names.backup_key, names.log_key):
        assert ".." not in key and "//" not in key and not key.startswith("/")
    assert "/" not in names.log_filename


@given(TEXT)
def test_an_environment_is_one_of_three_or_refused(name):
    try:
        validate_environment(name, "titan")
    except ConfigError as exc:
        _one_sentence(exc)
        assert repr(name) in str(exc)
        return
    assert name in ENVIRONMENT_KEYS


@given(TEXT)
def test_a_bucket_name_obeys_s3_rules_or_is_refused(name):
    try:
        validate_bucket(name, "SPONSOR_BACKUPS_BUCKET", "titan")
    except ConfigError as exc:
        _one_sentence(exc)
        assert "SPONSOR_BACKUPS_BUCKET" in str(exc)
        return
    assert 3 <= len(name) <= 63 and re.fullmatch(r"[a-z0-9][a-z0-9.-]*[a-z0-9]", name) and ".." not in name


@given(TEXT)
def test_a_flag_value_is_a_known_spelling_or_refused(value):
    try:
        enabled = parse_flag(value, "ENABLE_S3_BACKUP_ARCHIVAL", "titan")
    except ConfigError as exc:
        _one_sentence(exc)
        assert "ENABLE_S3_BACKUP_ARCHIVAL" in str(exc)
        assert value.strip().lower() not in TRUE_WORDS + FALSE_WORDS
        return
    assert enabled == (value.strip().lower() in TRUE_WORDS)


YAML_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), TEXT)
YAML_DOCS = st.recursive(
    YAML_SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(TEXT, children, max_size=4)),
    max_leaves=12,
)
MANIFEST_LIKE = st.fixed_dictionaries(
    {
        "sponsors": st.lists(
            st.dictionaries(
                st.sampled_from(
                    ["name", "region", "environments", "env_prefix", "block", "backups_bucket", "bogus"]
                ),
                YAML_DOCS,
                max_size=5,
            ),
            max_size=4,
        )
    }
)
YAML_TRICKS = st.sampled_from(
    [
        "sponsors: !!python/object/apply:os.system ['touch /tmp/hht-pwned']\n",
        "sponsors:\n  - &a {name: titan}\n  - *a\n",
        "a: &a [*a]\n",
        "sponsors: [" * 200,
        "sponsors:\n  - name: !!binary aGVsbG8=\n",
        "%YAML 9.9\n---\nsponsors: []\n",
        "sponsors:\n  - name: titan\n    <<: {environments: [production]}\n",
    ]
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(MANIFEST_LIKE.map(lambda doc: yaml.safe_dump(doc, allow_unicode=True)), YAML_TRICKS, st.text())
)
def test_any_manifest_is_refused_in_one_sentence_or_yields_only_valid_sponsors(tmp_path, text):
    path = tmp_path / "sponsors.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        manifest = load_manifest(path)
    except ConfigError as exc:
        _one_sentence(exc)
        assert str(exc).startswith(f"Sponsor manifest {path}")
        return
    for entry in manifest.sponsors:
        validate_sponsor(entry.name)  # everything accepted is a valid, prefix-safe name
