"""S3 errors in one sentence each: what went wrong, for which sponsor, and what to do.

Contract for every S3 adapter: no botocore exception leaves ``hht_archival.adapters``.
Each is raised as ``translate`` words it, with the botocore error as its
``__cause__`` (``refusal`` reads the operation and code from it for a check
that reports them). ``TransientError`` marks what a retry may fix (throttling,
5xx, network); a missing bucket, denied access, bad credentials, a store that
does not implement a call or an object in cold storage are ``ArchivalError``
and are not retried. botocore has already retried the transient ones
(s3_client.py: standard mode), so no adapter retries inline. s3.py re-exports
``translate``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from hht_archival.errors import ArchivalError, ConfigError, TransientError

T = TypeVar("T")

_TRANSIENT_CODES = {
    "SlowDown",
    "InternalError",
    "ServiceUnavailable",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "OperationAborted",
}
_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "InvalidClientTokenId",
}


def translate(exc: Exception, sponsor: str, action: str) -> ArchivalError:
    """Turn a botocore error into one sentence with the remedy, marked retryable or not."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ConfigError(
            f"No AWS credentials were found for sponsor {sponsor} ({action}); set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an AwsCredentials block."
        )
    if isinstance(exc, BotoConnectionError):
        return TransientError(
            f"S3 could not be reached for sponsor {sponsor} ({action}: {type(exc).__name__}); "
            "check the network and AWS_ENDPOINT_URL."
        )
    if isinstance(exc, HTTPClientError):  # connected, then cut off or timed out mid-request
        return TransientError(
            f"The connection to S3 was lost for sponsor {sponsor} ({action}: {type(exc).__name__}); "
            "check the network and AWS_ENDPOINT_URL, then run again."
        )
    if not isinstance(exc, ClientError):
        return TransientError(f"S3 failed for sponsor {sponsor} ({action}): {type(exc).__name__}.")
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    bucket = action.split("s3://", 1)[-1].split("/", 1)[0]
    if code == "NoSuchBucket":
        return ArchivalError(
            f"Bucket {bucket} does not exist for sponsor {sponsor}; create it with hht-archival provision "
            "(or terraform apply), or set the bucket name in the environment."
        )
    if code in ("AccessDenied", "AllAccessDisabled", "Forbidden", "403"):
        return ArchivalError(
            f"Access denied for sponsor {sponsor} ({action}); grant the archival role "
            f"{_iam_action(exc.operation_name)} on that bucket."
        )
    if code in _CREDENTIAL_CODES:
        return ArchivalError(
            f"AWS rejected the credentials for sponsor {sponsor} ({code}); check "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or the AwsCredentials block."
        )
    if code == "InvalidObjectState":
        return ArchivalError(
            f"The object is in cold storage for sponsor {sponsor} ({action}) and cannot be read until it is "
            "restored from Glacier; hht-archival restore --request-glacier-restore (a backup) or "
            "hht-archival verify --logs --request-glacier-restore (deployment logs) asks for that."
        )
    if code == "NotImplemented":
        return ArchivalError(
            f"The S3 store does not implement {action} for sponsor {sponsor} (NotImplemented); "
            "use an S3 store that does (a retention archive needs object tags)."
        )
    if code in _TRANSIENT_CODES or status >= 500:
        return TransientError(
            f"S3 answered {code or status} for sponsor {sponsor} ({action}); retrying may help."
        )
    return ArchivalError(f"S3 refused {action} for sponsor {sponsor}: {code} ({status}).")


# The IAM action each S3 call needs, where it is not s3:<the call's own name>.
_UPLOAD = "s3:PutObject and s3:PutObjectTagging"  # an object tagged as it is created needs both
_IAM_ACTIONS = {
    "PutObject": _UPLOAD,
    "CreateMultipartUpload": _UPLOAD,
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "HeadObject": "s3:GetObject",
    "ListObjectsV2": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
}


def _iam_action(operation: str | None) -> str:
    """The right a denied call lacked; an upload's two when the call is not known."""
    if not operation:
        return _UPLOAD
    return _IAM_ACTIONS.get(operation, f"s3:{operation}")


S3_ERRORS = (ClientError, BotoCoreError)  # what ``translated`` turns into our errors


@contextmanager
def translated(sponsor: str, action: str) -> Iterator[None]:
    """Raise a botocore error from the block as ``translate`` words it, the original as its cause."""
    try:
        yield
    except S3_ERRORS as exc:
        raise translate(exc, sponsor, action) from exc


def answer_or_none(call: Callable[[], T], sponsor: str, action: str, none_for: Collection[str]) -> T | None:
    """``call()``'s answer, or None when S3 answers with a code of ``none_for`` (an absence the caller
    expects: no such object, a cold one, no Object Lock); every other failure as ``translate`` words it."""
    try:
        return call()
    except ClientError as exc:
        if error_code(exc) in none_for:
            return None
        raise translate(exc, sponsor, action) from exc
    except BotoCoreError as exc:
        raise translate(exc, sponsor, action) from exc


def error_code(exc: ClientError) -> str:
    """The code S3 answered with (``NoSuchKey``, ``AccessDenied``, ``404``...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def refusal(exc: BaseException) -> tuple[str, str] | None:
    """(the S3 operation, what S3 answered) behind a translated error, or None when S3 was not the cause.

    For a check that reports the call a role may not make (doctor), rather
    than the sentence meant for a run.
    """
    cause = exc.__cause__
    if isinstance(cause, ClientError):
        return cause.operation_name or "reading", error_code(cause)
    if isinstance(cause, BotoCoreError):
        return "reading", type(cause).__name__
    return None
