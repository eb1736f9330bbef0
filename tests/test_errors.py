"""Which failures get the lost-Prefect-API sentence: those caused by the API, however deeply wrapped."""

from __future__ import annotations

import httpx
import pytest
from botocore.exceptions import EndpointConnectionError
from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError

from hht_archival.adapters.pipe import StreamAborted
from hht_archival.errors import TransientError, prefect_api_lost


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
