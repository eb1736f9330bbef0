"""Error sentences: the lost-Prefect-API one for failures the API caused, however deeply wrapped; an
S3 refusal worded by the adapter, with the remedy the CLI edge adds."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError

from hht_archival.adapters.pipe import StreamAborted
from hht_archival.adapters.s3_errors import refusal, translated
from hht_archival.cli import EXIT_FAILED, fail_on
from hht_archival.errors import ArchivalError, TransientError, prefect_api_lost


def _raised_from(error: BaseException, cause: BaseException) -> BaseException:
    try:
        raise error from cause
    except BaseException as exc:
        return exc


API_GONE = httpx.ConnectError("All connection attempts failed")
SLOT_REFUSED = _raised_from(ConcurrencySlotAcquisitionError("Unable to acquire concurrency slots"), API_GONE)


@pytest.mark.parametrize(
    "failure",
    [API_GONE, SLOT_REFUSED, StreamAborted(SLOT_REFUSED)],
    ids=["the API's own error", "a slot Prefect could not get", "a stream stopped by that"],
)
def test_a_failure_caused_by_the_prefect_api_gets_the_sentence_naming_it(failure):
    sentence = prefect_api_lost(failure, "sponsor titan", "deployment-logs")

    assert sentence is not None
    assert sentence.startswith(
        "The Prefect API stopped answering during the run for sponsor titan (ConnectError);"
    )
    assert "newest local log in deployment-logs" in sentence


@pytest.mark.parametrize(
    "failure",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
        TransientError("The Prefect API could not grant the archive lock for sponsor titan (production)"),
        StreamAborted(RuntimeError("pg_dump was killed by signal 9")),
    ],
    ids=["S3 unreachable", "the lock's own sentence", "a stream stopped by pg_dump"],
)
def test_other_failures_keep_their_own_sentence(failure):
    assert prefect_api_lost(failure, "sponsor titan", "deployment-logs") is None


def _translated(error: Exception, action: str) -> ArchivalError:
    try:
        with translated("titan", action):
            raise error
    except ArchivalError as exc:
        return exc


def test_access_denied_names_the_right_the_refused_call_needs():
    denied = _translated(
        ClientError({"Error": {"Code": "AccessDenied"}}, "ListObjectsV2"), "listing s3://b/backups/"
    )

    assert str(denied) == (
        "Access denied for sponsor titan (listing s3://b/backups/); grant the archival role s3:ListBucket "
        "on that bucket."
    )
    assert refusal(denied) == ("ListObjectsV2", "AccessDenied")


def test_the_cli_adds_doctor_as_the_remedy_only_where_the_sentence_names_no_command(capsys):
    config = SimpleNamespace(sponsor="titan", environment="production")
    refused = _translated(ClientError({"Error": {"Code": "Odd"}}, "ListObjectsV2"), "listing s3://b/backups/")
    missing = _translated(
        ClientError({"Error": {"Code": "NoSuchBucket"}}, "ListObjectsV2"), "listing s3://b/"
    )

    for failure in (refused, missing):
        with pytest.raises(SystemExit) as exited:
            fail_on(failure, config)
        assert exited.value.code == EXIT_FAILED
    first, second = capsys.readouterr().err.splitlines()

    assert first == (
        "❌ S3 refused listing s3://b/backups/ for sponsor titan: Odd (0). Find what is missing with: "
        "hht-archival doctor --sponsor titan --environment production"
    )
    assert (
        second.startswith("❌ Bucket b does not exist for sponsor titan; create it")
        and "doctor" not in second
    )


@pytest.fixture
def command_with_a_bug():
    """A command of the real ``hht-archival`` group whose body fails in a way no layer worded."""
    from hht_archival.cli import main

    @main.command("bug-for-test")
    def bug_for_test() -> None:
        raise KeyError("nobody foresaw this")

    yield main
    main.commands.pop("bug-for-test")


def test_an_error_nobody_worded_is_one_sentence_not_a_traceback(command_with_a_bug, monkeypatch):
    from click.testing import CliRunner

    monkeypatch.delenv("HHT_ARCHIVAL_DEBUG", raising=False)
    result = CliRunner().invoke(command_with_a_bug, ["bug-for-test"])
    assert result.exit_code == EXIT_FAILED
    assert result.stderr.strip() == (
        "❌ Unexpected KeyError in hht-archival bug-for-test: 'nobody foresaw this'. Run it again with "
        "HHT_ARCHIVAL_DEBUG=1 to see the traceback, and report it."
    )

    monkeypatch.setenv("HHT_ARCHIVAL_DEBUG", "1")
    debugged = CliRunner().invoke(command_with_a_bug, ["bug-for-test"])
    assert "Traceback (most recent call last)" in debugged.stderr
    assert debugged.stderr.strip().endswith("and report it.")
