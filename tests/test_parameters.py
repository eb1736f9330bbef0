"""archive-sponsor's parameters: one list (flows/parameters.py) that the flow's signature must match."""

from __future__ import annotations

from typing import get_type_hints

import pytest
from prefect.utilities.callables import parameter_schema

from flows.archive_sponsor import archive_sponsor
from flows.parameters import SponsorParameters, sponsor_parameters


def test_the_flow_signature_names_each_parameter_of_the_one_list_with_its_type():
    signature = get_type_hints(archive_sponsor.fn, include_extras=True)
    signature.pop("return")
    declared = get_type_hints(SponsorParameters, include_extras=True)
    assert list(signature) == list(declared) and signature == declared


def test_the_form_takes_each_title_and_description_from_the_list():
    form = parameter_schema(archive_sponsor).model_dump_for_openapi()["properties"]
    for name, declared in SponsorParameters.model_fields.items():
        assert form[name]["title"] == declared.json_schema_extra["title"]
        assert form[name]["description"] == declared.description


def test_parameters_sent_to_a_run_are_checked_in_the_caller():
    sent = sponsor_parameters(sponsor="titan", enabled=True, log_dir=None)
    assert sent == {"sponsor": "titan", "enabled": "on"}  # None is left to the default
    with pytest.raises(ValueError, match="sponsor_blok"):
        sponsor_parameters(sponsor="titan", sponsor_blok="titan")


def test_the_drill_form_is_its_one_list_too_and_the_weekly_sends_only_sponsor_and_manifest():
    from blocks.manifest import ManifestSettings, SponsorRun
    from flows.drill_parameters import DrillParameters, drill_run_parameters
    from flows.restore_drill import restore_drill

    signature = get_type_hints(restore_drill.fn, include_extras=True)
    signature.pop("return")
    assert signature == get_type_hints(DrillParameters, include_extras=True)
    assert list(signature) == list(DrillParameters.model_fields)
    form = parameter_schema(restore_drill).model_dump_for_openapi()["properties"]
    assert [form[name]["title"] for name in signature] == [
        "Sponsor",
        "Environment",
        "Backup",
        "Sponsor block",
        "Variable prefix",
        "Sponsor manifest",
    ]
    assert (
        form["environment"]["enum"] == ["production", "staging", "dev"]
        and form["backup"]["default"] == "latest"
    )
    assert all("anyOf" not in field for field in form.values())  # no str/None toggles
    run = SponsorRun("titan", "staging", ManifestSettings(path="sponsors.yaml", default_region="eu-west-1"))
    assert drill_run_parameters(run) == {
        "sponsor": "titan",
        "environment": "staging",
        "manifest": "sponsors.yaml",
    }
