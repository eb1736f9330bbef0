"""The flows' parameters as forms: archive-sponsor's one list (flows/parameters.py) that its signature must
match, every flow's form, the sponsor drop-down, and a flow served in a process of its own."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from typing import get_type_hints

import cloudpickle
import pytest
from prefect.utilities.callables import parameter_schema

from flows.archive_all_sponsors import archive_all_sponsors
from flows.archive_sponsor import archive_sponsor
from flows.doctor import doctor_flow
from flows.drill_all_sponsors import drill_all_sponsors
from flows.evidence import archive_evidence
from flows.form import scope_run_name
from flows.parameters import SponsorParameters, sponsor_parameters
from flows.restore_drill import restore_drill
from flows.sponsor_choice import unchosen_refusal
from flows.status import archive_status
from tests.support.forms import form_problems, title_of


def test_the_flow_signature_names_each_parameter_of_the_one_list_with_its_type():
    signature = get_type_hints(archive_sponsor.fn, include_extras=True)
    signature.pop("return")
    declared = get_type_hints(SponsorParameters, include_extras=True)
    assert list(signature) == list(declared) and signature == declared


def test_the_form_takes_each_title_and_description_from_the_list():
    schema = parameter_schema(archive_sponsor).model_dump_for_openapi()
    form = schema["properties"]
    for name, declared in SponsorParameters.model_fields.items():
        assert title_of(schema, form[name]) == declared.json_schema_extra["title"]
        assert form[name]["description"] == declared.description


def test_parameters_sent_to_a_run_are_checked_in_the_caller():
    sent = sponsor_parameters(sponsor="titan", enabled=True, log_dir=None, deployment={})
    assert sent == {"sponsor": "titan", "enabled": "on"}  # None and nothing are left to the default
    with_app = sponsor_parameters(sponsor="titan", deployment={"version": "2.4.0", "git_sha": None})
    assert with_app == {"sponsor": "titan", "deployment": {"version": "2.4.0"}}
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


FLOWS = [
    archive_sponsor,
    archive_all_sponsors,
    doctor_flow,
    archive_status,
    restore_drill,
    drill_all_sponsors,
    archive_evidence,
]


def _form(flow) -> dict:
    return parameter_schema(flow).model_dump_for_openapi()


@pytest.mark.parametrize("flow", FLOWS, ids=lambda flow: flow.name)
def test_every_flows_form_has_titles_choices_and_no_none_toggles(flow):
    assert form_problems(_form(flow)) == []


def test_with_a_manifest_each_sponsor_field_is_a_drop_down_of_its_sponsors(tmp_path, monkeypatch):
    manifest = tmp_path / "sponsors.yaml"
    manifest.write_text("sponsors:\n  - name: titan\n  - name: europa\n")
    monkeypatch.setenv("ARCHIVAL_MANIFEST", str(manifest))  # as `prefect deploy` finds it in its clone
    assert _form(archive_sponsor)["properties"]["sponsor"]["enum"] == ["titan", "europa"]
    assert _form(archive_all_sponsors)["properties"]["sponsors"]["items"]["enum"] == ["titan", "europa"]
    for flow in (doctor_flow, archive_status):  # these can also take every sponsor at once
        sponsor = _form(flow)["properties"]["sponsor"]
        assert sponsor["enum"] == ["every sponsor", "titan", "europa"]
        assert sponsor["default"] == "every sponsor"

    monkeypatch.setenv("ARCHIVAL_MANIFEST", str(tmp_path / "missing.yaml"))  # none: a text field
    assert "enum" not in _form(archive_sponsor)["properties"]["sponsor"]


_SERVED = """
import cloudpickle, json, sys
from prefect.utilities.callables import get_call_parameters
print(json.dumps({
    flow.name: flow.validate_parameters(get_call_parameters(flow.fn, (), {"sponsor": "titan"} if flow.name
        not in ("archive-all-sponsors", "drill-all-sponsors") else {"sponsors": ["titan"]})) and "ok"
    for flow in cloudpickle.loads(sys.stdin.buffer.read())
}))
"""


def test_a_served_flow_checks_its_parameters_in_a_process_of_its_own(tmp_path):
    """archive_sponsor.serve() runs each flow in a new process from the function pickled by value, where
    only the names its body uses exist: every parameter type must still be known there."""
    done = subprocess.run(
        [sys.executable, "-c", _SERVED],
        input=cloudpickle.dumps(FLOWS),
        capture_output=True,
        cwd=tmp_path,  # not this repository: nothing importable by path but what the pickle carries
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert json.loads(done.stdout) == {flow.name: "ok" for flow in FLOWS}


def test_an_empty_sponsor_is_refused_only_on_a_worker_that_serves_several(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no sponsors.yaml here
    for name in [n for n in os.environ if n.endswith(("_DATABASE_URL", "_ENABLE_S3_BACKUP_ARCHIVAL"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SPONSOR", "titan")
    monkeypatch.setenv("EUROPA_DATABASE_URL", "postgresql://backup@db.internal/europa")
    assert unchosen_refusal("") is None  # the command line: a person's own SPONSOR, as in the seed

    monkeypatch.setenv("PREFECT__RUNTIME__DEPLOYMENT__ID", str(uuid.uuid4()))  # a worker's deployment run
    assert str(unchosen_refusal("")) == (
        f"No sponsor was chosen for this run, and worker {socket.gethostname()} serves several (titan, "
        "europa); choose the sponsor in the run's form (sponsor=NAME from the API) and run again."
    )
    assert unchosen_refusal("europa") is None
    monkeypatch.delenv("EUROPA_DATABASE_URL")
    assert unchosen_refusal("") is None  # a worker that serves titan alone keeps "empty means SPONSOR"


@pytest.mark.parametrize(
    ("prefix", "params", "empty_means_every", "expected"),
    [
        ("status", {}, True, "status-every-sponsor"),  # the deployment trigger's run: no parameters
        ("status", {"sponsor": "", "environment": "all"}, True, "status-every-sponsor"),
        ("status", {"sponsor": "every sponsor", "environment": "dev"}, True, "status-every-sponsor-dev"),
        ("readiness", {"sponsor": "titan", "environment": "all"}, False, "readiness-titan-production"),
        ("readiness", {"sponsor": "europa", "environment": "dev"}, False, "readiness-europa-dev"),
    ],
)
def test_status_and_readiness_runs_are_named_after_their_choice(prefix, params, empty_means_every, expected):
    assert scope_run_name(prefix, params, empty_means_every) == expected
