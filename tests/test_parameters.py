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
