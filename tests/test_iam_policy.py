"""The archival role's least-privilege policy, checked against what real runs send to S3.

Every request the code under test makes passes through the fault proxy, which records it;
each one is mapped to the IAM action and resource S3 would authorise it as, and the policy
must allow every one of them. A request shape the mapping does not know fails the test, so
a new S3 call in the code cannot slip past the policy unnoticed.
"""

from __future__ import annotations

import json
import threading
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from blocks.flag import FlagDecision
from hht_archival.errors import ConfigError
from hht_archival.iam import least_privilege_policy, policy_json
from tests.conftest import AUDIT, BACKUPS
from tests.flowhelpers import run_flow
from tests.support.faultproxy import (
    is_abort_multipart,
    is_complete_multipart,
    is_create_multipart,
    is_put_object,
    is_upload_part,
)
from tests.support.iam_eval import allows

KMS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

# (method, query keys) -> IAM action, for requests on an object (path-style /bucket/key).
# botocore adds ?x-id=<Operation> to some requests; it does not change the operation.
_OBJECT_ACTIONS = {
    ("PUT", frozenset()): "s3:PutObject",
    ("PUT", frozenset({"tagging"})): "s3:PutObjectTagging",
    ("PUT", frozenset({"tagging", "versionId"})): "s3:PutObjectVersionTagging",
    ("PUT", frozenset({"partNumber", "uploadId"})): "s3:PutObject",  # UploadPart
    ("POST", frozenset({"uploads"})): "s3:PutObject",  # CreateMultipartUpload
    ("POST", frozenset({"uploadId"})): "s3:PutObject",  # CompleteMultipartUpload
    ("DELETE", frozenset({"uploadId"})): "s3:AbortMultipartUpload",
    ("DELETE", frozenset()): "s3:DeleteObject",
    ("DELETE", frozenset({"versionId"})): "s3:DeleteObjectVersion",
    ("GET", frozenset()): "s3:GetObject",
    ("HEAD", frozenset()): "s3:GetObject",
    ("GET", frozenset({"versionId"})): "s3:GetObjectVersion",
    ("HEAD", frozenset({"versionId"})): "s3:GetObjectVersion",
    ("GET", frozenset({"tagging"})): "s3:GetObjectTagging",
    ("GET", frozenset({"uploadId"})): "s3:ListMultipartUploadParts",
    ("PUT", frozenset({"acl"})): "s3:PutObjectAcl",
    ("PUT", frozenset({"retention"})): "s3:PutObjectRetention",
    ("PUT", frozenset({"legal-hold"})): "s3:PutObjectLegalHold",
}
_LIST_OBJECTS_PARAMS = {
    "list-type",
    "prefix",
    "delimiter",
    "max-keys",
    "marker",
    "continuation-token",
    "start-after",
    "fetch-owner",
    "encoding-type",
}
_LIST_UPLOADS_PARAMS = {"uploads", "prefix", "delimiter", "key-marker", "upload-id-marker", "max-uploads"}


# Request headers that change what S3 authorises a request as (x-amz-tagging on PutObject or
# CreateMultipartUpload also needs s3:PutObjectTagging); the others are refused outright below.
_HEADER_ACTIONS = {
    "x-amz-tagging": "s3:PutObjectTagging",
    "x-amz-object-lock-mode": "s3:PutObjectRetention",
    "x-amz-object-lock-retain-until-date": "s3:PutObjectRetention",
    "x-amz-object-lock-legal-hold": "s3:PutObjectLegalHold",
    "x-amz-acl": "s3:PutObjectAcl",
    "x-amz-grant-full-control": "s3:PutObjectAcl",
    "x-amz-grant-read": "s3:PutObjectAcl",
    "x-amz-grant-read-acp": "s3:PutObjectAcl",
    "x-amz-grant-write-acp": "s3:PutObjectAcl",
}
_UNMAPPED_HEADERS = ("x-amz-copy-source",)  # CopyObject / UploadPartCopy also read the source


def iam_request(
    method: str, path: str, query: dict[str, str], headers: dict[str, str] | None = None
) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs S3 authorises a path-style request as.

    An unknown request shape raises AssertionError, so it fails the test instead of passing unchecked.
    """
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    keys = frozenset(query) - {"x-id"}
    shape = f"{method} {path} {sorted(keys)}"
    if not bucket:
        raise AssertionError(f"unmapped S3 request (no bucket): {shape}")
    for header in _UNMAPPED_HEADERS:
        if header in headers:
            raise AssertionError(f"unmapped S3 request with {header}: {shape}; extend iam_request")
    if headers.get("x-amz-server-side-encryption") == "aws:kms":
        raise AssertionError(f"SSE-KMS request {shape}: map its kms: actions before relying on this test")
    if key:
        action = _OBJECT_ACTIONS.get((method, keys))
        if action is None:
            raise AssertionError(f"unmapped S3 object request: {shape}; add it to _OBJECT_ACTIONS")
        arn = f"arn:aws:s3:::{bucket}/{key}"
        extra = []
        if (method, keys) in (("PUT", frozenset()), ("POST", frozenset({"uploads"}))):
            extra = sorted({a for h, a in _HEADER_ACTIONS.items() if h in headers})
        return [(action, arn)] + [(a, arn) for a in extra]
    bucket_arn = f"arn:aws:s3:::{bucket}"
    if method == "GET" and "uploads" in keys and keys <= _LIST_UPLOADS_PARAMS | {"encoding-type"}:
        return [("s3:ListBucketMultipartUploads", bucket_arn)]
    if method == "GET" and "versions" in keys:
        return [("s3:ListBucketVersions", bucket_arn)]
    if (method == "GET" and keys <= _LIST_OBJECTS_PARAMS) or (method == "HEAD" and not keys):
        return [("s3:ListBucket", bucket_arn)]  # ListObjects(V2), HeadBucket
    if method == "GET" and keys == {"location"}:
        return [("s3:GetBucketLocation", bucket_arn)]
    if method == "GET" and keys == {"object-lock"}:
        return [("s3:GetBucketObjectLockConfiguration", bucket_arn)]
    raise AssertionError(f"unmapped S3 bucket request: {shape}; add it to iam_request")


@pytest.fixture
def wire(s3, s3_proxy, monkeypatch):
    """Every request through the proxy, as s3_proxy.requests has it plus the request's headers.

    The proxy records (method, path, query) only, but a PutObject's x-amz-tagging header changes
    the permission it needs, so the proxy's handler is wrapped (for this test) to keep headers too.
    """
    seen: list[tuple[str, str, dict[str, str], dict[str, str]]] = []
    lock = threading.Lock()
    handle = s3_proxy._handle

    def recording_handle(handler):
        split = urlsplit(handler.path)
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with lock:
            seen.append((handler.command, split.path, query, headers))
        return handle(handler)

    monkeypatch.setattr(s3_proxy, "_handle", recording_handle)
    return seen


@pytest.fixture
def policy():
    return least_privilege_policy("titan", BACKUPS, AUDIT)


# ----------------------------------------------------------------------------- the document


def test_policy_names_exact_actions_on_exact_prefixes(policy):
    assert policy["Version"] == "2012-10-17"
    statements = policy["Statement"]
    assert all(s["Effect"] == "Allow" for s in statements)
    sids = [s["Sid"] for s in statements]
    assert len(set(sids)) == len(sids) and all(sid.isalnum() for sid in sids)
    for statement in statements:
        assert "NotAction" not in statement and "NotResource" not in statement
        for resource in statement["Resource"]:
            assert resource not in ("*", "arn:aws:s3:::*")
            assert resource in (
                f"arn:aws:s3:::{BACKUPS}/backups/*",
                f"arn:aws:s3:::{AUDIT}/deployments/*",
                f"arn:aws:s3:::{BACKUPS}/doctor/*",
                f"arn:aws:s3:::{AUDIT}/doctor/*",
                f"arn:aws:s3:::{AUDIT}",  # listing, with a condition: deployments/ only
                f"arn:aws:s3:::{BACKUPS}",  # only whether it has Object Lock
            ), resource
            if resource in (f"arn:aws:s3:::{AUDIT}", f"arn:aws:s3:::{BACKUPS}"):  # bucket-wide: read-only
                assert statement["Action"] in (["s3:ListBucket"], ["s3:GetBucketObjectLockConfiguration"])
            if statement["Action"] == ["s3:ListBucket"]:
                assert statement["Condition"] == {"StringLike": {"s3:prefix": ["deployments/*"]}}
        for action in statement["Action"]:
            assert "*" not in action and "?" not in action, action
    # The backups are never listed, and multipart uploads never: s3:ListBucketMultipartUploads is absent.
    assert not any(
        allows(policy, action, f"arn:aws:s3:::{bucket}")
        for bucket in (BACKUPS, AUDIT)
        for action in ("s3:ListBucketMultipartUploads", "s3:ListBucketVersions")
    )
    assert not allows(policy, "s3:ListBucket", f"arn:aws:s3:::{BACKUPS}")


def test_the_runner_can_add_archives_but_not_read_delete_or_reconfigure_them(policy):
    backup = f"arn:aws:s3:::{BACKUPS}/backups/2025/01/02/backup-prod-20250102-030405.sql.gz"
    log = f"arn:aws:s3:::{AUDIT}/deployments/2025/01/02/deployment-prod-20250102-030405.json"
    assert allows(policy, "s3:PutObject", backup)
    assert allows(policy, "s3:PutObjectTagging", backup)
    assert allows(policy, "s3:AbortMultipartUpload", backup)
    assert allows(policy, "s3:PutObject", log)
    assert allows(policy, "s3:PutObjectTagging", log)
    assert allows(policy, "S3:putobject", backup)  # IAM action names are case-insensitive
    assert allows(policy, "s3:GetObject", log)  # the hash chain reads the previous log (HEAD)
    for read_back in ("s3:GetObjectTagging", "s3:PutObjectRetention"):  # tags read back; each object locked
        assert allows(policy, read_back, backup) and allows(policy, read_back, log)

    assert not allows(policy, "s3:GetObject", backup)  # clinical data: never read back by the runner
    for denied in (
        "s3:GetObjectVersion",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:DeleteObjectTagging",
        "s3:GetObjectRetention",
        "s3:PutObjectLegalHold",
        "s3:BypassGovernanceRetention",
        "s3:PutObjectAcl",
    ):
        assert not allows(policy, denied, backup), denied
        assert not allows(policy, denied, log), denied
    assert not allows(policy, "s3:AbortMultipartUpload", log)  # the log is a single PUT
    # Only under the prefixes the code writes to, and only in these two buckets.
    assert not allows(policy, "s3:PutObject", f"arn:aws:s3:::{BACKUPS}/elsewhere/x.sql.gz")
    assert not allows(policy, "s3:PutObject", f"arn:aws:s3:::{AUDIT}/backups/x.sql.gz")
    assert not allows(policy, "s3:PutObject", f"arn:aws:s3:::{BACKUPS}/deployments/x.json")
    assert not allows(policy, "s3:PutObject", "arn:aws:s3:::hht-diary-backups-europa-eu-west-1/backups/x")
    for bucket_action in ("s3:PutBucketPolicy", "s3:PutLifecycleConfiguration", "s3:DeleteBucket"):
        assert not allows(policy, bucket_action, f"arn:aws:s3:::{BACKUPS}")
    assert not any(s["Action"][0].startswith("kms:") for s in policy["Statement"])


def test_kms_statement_only_with_a_key_and_only_on_that_key():
    policy = least_privilege_policy("titan", BACKUPS, AUDIT, kms_key_arn=KMS_KEY)
    kms = [s for s in policy["Statement"] if any(a.startswith("kms:") for a in s["Action"])]
    assert len(kms) == 1
    assert sorted(kms[0]["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert kms[0]["Resource"] == [KMS_KEY]
    assert allows(policy, "kms:GenerateDataKey", KMS_KEY)
    assert allows(policy, "kms:Decrypt", KMS_KEY)
    assert not allows(policy, "kms:Decrypt", KMS_KEY.replace("1234abcd", "9999abcd"))
    assert not allows(policy, "kms:Encrypt", KMS_KEY)
    assert not allows(policy, "kms:ScheduleKeyDeletion", KMS_KEY)
    with pytest.raises(ConfigError, match="not a key ARN"):
        least_privilege_policy("titan", BACKUPS, AUDIT, kms_key_arn="alias/hht-archival")


def test_invalid_names_are_refused_rather_than_widening_the_policy():
    with pytest.raises(ConfigError):
        least_privilege_policy("titan", "*", AUDIT)
    with pytest.raises(ConfigError):
        least_privilege_policy("Titan/../x", BACKUPS, AUDIT)


def test_policy_json_is_the_policy_as_indented_json(policy):
    text = policy_json("titan", BACKUPS, AUDIT)
    assert json.loads(text) == policy
    assert text.startswith('{\n  "Version": "2012-10-17"')
    assert json.loads(policy_json("titan", BACKUPS, AUDIT, KMS_KEY))["Statement"][-1]["Resource"] == [KMS_KEY]


# ----------------------------------------------------------------------------- the evaluator


def test_allows_follows_iam_matching_rules():
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/in/*"},
            {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": ["arn:aws:kms:*:*:key/k?"]},
            {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::b/in/locked/*"},
            {"Effect": "Allow", "NotAction": "s3:*", "Resource": "arn:aws:sqs:*"},
        ],
    }
    assert allows(policy, "s3:GetObject", "arn:aws:s3:::b/in/deep/er/x")  # * spans slashes
    assert not allows(policy, "s3:GetObject", "arn:aws:s3:::b/out/x")
    assert not allows(policy, "s3:GetObject", "arn:aws:s3:::b2/in/x")
    assert not allows(policy, "s3:GetObject", "arn:aws:s3:::B/in/x")  # resources are case-sensitive
    assert allows(policy, "kms:Decrypt", "arn:aws:kms:eu-west-1:1:key/k1")
    assert not allows(policy, "kms:Decrypt", "arn:aws:kms:eu-west-1:1:key/k12")  # ? is one character
    assert allows(policy, "s3:DeleteObject", "arn:aws:s3:::b/in/x")
    assert not allows(policy, "s3:DeleteObject", "arn:aws:s3:::b/in/locked/x")  # an explicit Deny wins
    assert allows(policy, "sqs:SendMessage", "arn:aws:sqs:eu-west-1:1:q")
    assert not allows(policy, "s3:GetObject", "arn:aws:sqs:eu-west-1:1:q")  # NotAction
    assert not allows({"Statement": []}, "s3:GetObject", "arn:aws:s3:::b/in/x")
    assert not allows(
        {"Statement": [{"Effect": "Allow", "Action": "s3:Get[O]bject", "Resource": "*"}]},
        "s3:GetObject",
        "arn:aws:s3:::b/k",
    )  # brackets are literal in IAM, not a character class
    assert allows({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}, "ec2:Any", "x")


def test_request_mapping_knows_what_headers_add_and_fails_on_unknown_shapes():
    key = f"/{BACKUPS}/backups/a.gz"
    arn = f"arn:aws:s3:::{BACKUPS}/backups/a.gz"
    assert iam_request("PUT", key, {"x-id": "PutObject"}) == [("s3:PutObject", arn)]
    assert iam_request("PUT", key, {}, {"X-Amz-Tagging": "a=b"}) == [
        ("s3:PutObject", arn),
        ("s3:PutObjectTagging", arn),
    ]
    assert iam_request("POST", key, {"uploads": ""}, {"x-amz-object-lock-mode": "COMPLIANCE"}) == [
        ("s3:PutObject", arn),
        ("s3:PutObjectRetention", arn),
    ]
    assert iam_request("DELETE", key, {"uploadId": "u"}) == [("s3:AbortMultipartUpload", arn)]
    assert iam_request("GET", f"/{BACKUPS}", {"uploads": ""}) == [
        ("s3:ListBucketMultipartUploads", f"arn:aws:s3:::{BACKUPS}")
    ]
    for unknown in (
        ("PUT", key, {"cors": ""}, {}),
        ("PATCH", key, {}, {}),
        ("PUT", f"/{BACKUPS}", {"policy": ""}, {}),
        ("GET", "/", {}, {}),
        ("PUT", key, {}, {"x-amz-copy-source": "/other/k"}),
        ("PUT", key, {}, {"x-amz-server-side-encryption": "aws:kms"}),
    ):
        with pytest.raises(AssertionError, match="unmapped|SSE-KMS"):
            iam_request(*unknown)


# ----------------------------------------------------------------------------- recorded runs


# scenario -> (database fixture, multipart, fail part 2 forever, Object Lock, expected status, actions)
# Every run lists the deployment logs after the chain head and reads the previous one (HEAD: the hash
# chain), reads back the tags of what it wrote, and asks each bucket whether it has Object Lock.
CHAIN = {"s3:ListBucket", "s3:GetObject"}
WRITE = {"s3:PutObject", "s3:PutObjectTagging", "s3:GetObjectTagging", "s3:GetBucketObjectLockConfiguration"}
RUNS = {
    "single-put": ("seeded_db", False, False, False, "archived", {*WRITE, *CHAIN}),
    "multipart": ("bulky_db", True, False, False, "archived", {*WRITE, *CHAIN}),
    "multipart-aborted": (
        "bulky_db",
        True,
        True,
        False,
        "failed",
        {*WRITE, "s3:AbortMultipartUpload", *CHAIN},
    ),
    "object-lock": ("seeded_db", False, False, True, "archived", {*WRITE, "s3:PutObjectRetention", *CHAIN}),
}
PREVIOUS_LOG = "deployments/2020/01/01/deployment-prod-20200101-000000.json"


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("scenario", list(RUNS))
def test_every_s3_request_of_a_real_run_is_allowed_by_the_policy(
    scenario, request, policy, moto_server, s3, s3_proxy, wire, monkeypatch
):
    db_fixture, multipart, fail_part, locked, status, expected_actions = RUNS[scenario]
    if locked:
        moto_server.reset()
        moto_server.make_locked_buckets(BACKUPS, AUDIT)
    s3.put_object(  # not through the proxy; ChecksumAlgorithm: an Object Lock bucket requires one
        Bucket=AUDIT, Key=PREVIOUS_LOG, Body=b'{"status": "archived"}', ChecksumAlgorithm="SHA256"
    )
    monkeypatch.setenv("DATABASE_URL", request.getfixturevalue(db_fixture))
    if multipart:
        monkeypatch.setenv("ARCHIVAL_PART_SIZE_MIB", "5")
    if fail_part:
        # As in test_flow.py: part 2 always fails (500), so the upload is aborted. One task
        # attempt is enough to see the abort (botocore's own 5 attempts already take ~17 s).
        monkeypatch.setenv("ARCHIVAL_TASK_RETRIES", "0")
        s3_proxy.fail(lambda m, p, q: is_upload_part(m, p, q) and q.get("partNumber") == "2", times=None)

    result, _ = run_flow(sponsor="titan", enabled=True)

    outcome = result if isinstance(result, dict) else getattr(result, "record", None)
    assert outcome is not None and outcome["status"] == status, result
    recorded = s3_proxy.requests
    assert recorded, "the run made no S3 request at all"
    assert sorted(_shape(r) for r in recorded) == sorted(_shape(w[:3]) for w in wire)
    seen = [
        pair for method, path, query, headers in wire for pair in iam_request(method, path, query, headers)
    ]
    refused = sorted({(action, arn) for action, arn in seen if not allows(policy, action, arn)})
    assert refused == [], f"the policy would refuse: {refused}"
    actions = {action for action, _ in seen}
    print(f"\n{scenario}: {len(recorded)} S3 requests, actions {sorted(actions)}")
    for action, arn in sorted(set(seen)):
        print(f"  {action:28} {arn}")
    assert actions == expected_actions

    shapes = {
        "put": any(is_put_object(*r) for r in recorded),
        "create": any(is_create_multipart(*r) for r in recorded),
        "part": any(is_upload_part(*r) for r in recorded),
        "complete": any(is_complete_multipart(*r) for r in recorded),
        "abort": any(is_abort_multipart(*r) for r in recorded),
    }
    assert shapes["put"]  # the deployment log is always a single PUT
    roles_put = any(is_put_object(*r) and r[1].endswith(".roles.json") for r in recorded)
    assert roles_put == (status == "archived")  # the roles object, beside the backup, under backups/
    assert shapes["create"] == shapes["part"] == multipart
    assert shapes["complete"] == (multipart and not fail_part)
    assert shapes["abort"] == fail_part
    if multipart:
        part_numbers = {r[2]["partNumber"] for r in recorded if is_upload_part(*r)}
        assert {"1", "2"} <= part_numbers


def _shape(record) -> tuple:
    method, path, query = record
    return method, path, sorted(query.items())


def test_the_policy_grants_no_s3_action_the_recorded_runs_do_not_use(policy):
    """With the exact per-run sets asserted above, this proves every granted S3 action is needed."""
    granted = {
        a
        for s in policy["Statement"]
        if s["Sid"] != "DoctorProbeOnly"
        for a in s["Action"]
        if a.startswith("s3:")
    }
    used = set().union(*(expected for *_, expected in RUNS.values()))
    assert granted == used


def test_doctor_probe_requests_are_allowed_and_stay_under_doctor(
    policy, s3, s3_proxy, wire, seeded_db, monkeypatch
):
    """doctor's probe (write, tag, read back, remove) needs only the DoctorProbeOnly statement."""
    from blocks.config import resolve_config
    from hht_archival.doctor import run_checks
    from hht_archival.provision import plan_bucket

    monkeypatch.setenv("DATABASE_URL", seeded_db)
    for bucket in (BACKUPS, AUDIT):
        for change in plan_bucket(s3, bucket, "eu-west-1"):
            change.apply()
    s3_proxy.clear()
    wire.clear()

    rows = run_checks(resolve_config(sponsor="titan"), FlagDecision(True, "parameter"))

    assert {r.check: r.status for r in rows}["backups bucket permissions"] == "ok"
    probe = [(m, p, q, h) for m, p, q, h in wire if "/doctor/" in p]
    assert {m for m, *_ in probe} == {"PUT", "GET", "DELETE"}
    seen = [
        pair for method, path, query, headers in probe for pair in iam_request(method, path, query, headers)
    ]
    refused = sorted({(action, arn) for action, arn in seen if not allows(policy, action, arn)})
    assert refused == []
    # doctor's check that backups/ cannot be read: under the policy its one GET is refused, so the
    # archival role sees AccessDenied there, which doctor shows as ✅
    read_check = [(m, p, q, h) for m, p, q, h in wire if "/backups/doctor-read-check-" in p]
    assert [m for m, *_ in read_check] == ["GET"]
    asked = [
        pair
        for method, path, query, headers in read_check
        for pair in iam_request(method, path, query, headers)
    ]
    assert asked and not any(allows(policy, action, arn) for action, arn in asked)
