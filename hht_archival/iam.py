"""The archival role's IAM policy: exactly the S3 (and KMS) calls a run makes, on exactly its objects.

Least privilege, because the runner is the exposed part: it holds database
credentials, runs on CI machines and workers, and talks to S3 with a long-lived
role. If it is compromised, the policy below lets the attacker *add* backups and
deployment logs under the two prefixes the code writes to, read the
deployment logs and the tags of what it wrote, lengthen (never shorten) an
object's Object Lock retention, and nothing else: no ``s3:GetObject`` on backups (they hold
every sponsor's clinical data, so the runner cannot read them back), no
``s3:DeleteObject`` / ``s3:DeleteObjectVersion`` (it cannot destroy the 7-year
archive), no listing of backups, no bucket, lifecycle, retention or policy
changes, and nothing in any other bucket or prefix.

What each action is for (see ``hht_archival/adapters/s3.py``):

- ``s3:PutObject``: the single-PUT upload, and every step of a multipart upload
  (CreateMultipartUpload, UploadPart and CompleteMultipartUpload are all
  authorised as ``s3:PutObject``); also the deployment log, and the backup's
  roles object (``backups/.../backup-{env}-{stamp}.roles.json``, beside the
  backup, so under the same prefix and the same grants: no new action).
- ``s3:PutObjectTagging``: the retention tags put on the backup after upload,
  and the tags the deployment log and the roles object carry in their PutObject
  (a PutObject carrying ``x-amz-tagging`` needs ``s3:PutObjectTagging`` as well).
- ``s3:GetObject`` on ``deployments/*`` and ``s3:ListBucket`` of the audit bucket
  (prefix ``deployments/`` only): each new log records the key and SHA-256 of
  the previous one (the hash chain, hht_archival/audit_chain.py), found by HEAD
  of the chain head and of logs (HEAD is authorised as s3:GetObject) and one
  listing after the chain head; a log is read (GET) only when it was written
  before logs kept their SHA-256 in their metadata. After the log's PUT, HEAD
  reads back its checksum. The logs hold no clinical data and no secret.
- ``s3:GetObjectTagging`` on ``backups/*`` and ``deployments/*``: after every
  write the tags are read back, because some S3-compatible stores keep an
  object sent with ``x-amz-tagging`` but drop its tags (hht_archival/landed.py).
  Tags are not data: this reads no backup.
- ``s3:GetBucketObjectLockConfiguration`` on both buckets, and
  ``s3:PutObjectRetention`` on ``backups/*`` and ``deployments/*``: where a
  bucket has Object Lock, each backup, roles object and log gets its own
  compliance-mode retention until its retain-until day. Compliance mode cannot
  be shortened or removed, by this role or anyone, so the grant can only make
  an object live longer; the role still cannot delete or bypass anything.
- The chain head (``deployments/chain-head-{env}.json``, the newest log's key
  and SHA-256, read by HEAD) is under ``deployments/``: the grants above cover it.
- ``s3:AbortMultipartUpload``: a failed multipart upload of a backup is aborted,
  so no parts linger. The log is always a single PUT, so the audit bucket does
  not get it.
- ``kms:GenerateDataKey`` and ``kms:Decrypt`` on the SSE-KMS key, when one is
  used: GenerateDataKey to encrypt, Decrypt because S3 needs it to complete a
  multipart upload under SSE-KMS (not to let the runner read anything back; S3
  still refuses GetObject).

- Under ``doctor/`` only, in both buckets: ``s3:PutObject``, ``s3:PutObjectTagging``,
  ``s3:GetObject`` and ``s3:DeleteObject`` / ``s3:DeleteObjectVersion``, so that
  ``hht-archival doctor`` can prove the role can write and tag, read its own
  probe back, and remove it. Nothing archived lives under that prefix.

``s3:ListBucketMultipartUploads`` is deliberately absent: the code never lists
uploads (it aborts the one it started, by id), and stale uploads are removed by
the buckets' ``AbortIncompleteMultipartUpload`` lifecycle rule.

A caveat the policy cannot close alone: ``s3:PutObject`` may write a new object
at an existing key. The buckets are versioned (and should use Object Lock in
compliance mode for Part 11), so an overwrite adds a version and the archived
one survives; the runner cannot delete versions.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hht_archival.errors import ConfigError
from hht_archival.naming import (
    BACKUPS_PREFIX,
    DEPLOYMENT_LOGS_PREFIX,
    DOCTOR_PREFIX,
    DRILLS_PREFIX,
    EVIDENCE_PREFIX,
    validate_bucket,
    validate_sponsor,
)

POLICY_VERSION = "2012-10-17"
DOCTOR_ACTIONS = [
    "s3:PutObject",
    "s3:PutObjectTagging",
    "s3:GetObject",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
]

_KMS_KEY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")


def least_privilege_policy(
    sponsor: str, backups_bucket: str, audit_logs_bucket: str, kms_key_arn: str | None = None
) -> dict[str, Any]:
    """The IAM policy document for one sponsor's archival role (see the module docstring for why).

    ``kms_key_arn`` must be a key ARN (``arn:aws:kms:REGION:ACCOUNT:key/ID``): KMS authorises
    against the key, so an alias or a bare key id in ``Resource`` would match nothing.
    """
    validate_sponsor(sponsor)
    validate_bucket(backups_bucket, "SPONSOR_BACKUPS_BUCKET", sponsor)
    validate_bucket(audit_logs_bucket, "SPONSOR_AUDIT_LOGS_BUCKET", sponsor)
    backups = f"arn:aws:s3:::{backups_bucket}/{BACKUPS_PREFIX}*"
    logs = f"arn:aws:s3:::{audit_logs_bucket}/{DEPLOYMENT_LOGS_PREFIX}*"

    statements: list[dict[str, Any]] = [
        {
            "Sid": "WriteBackups",
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": [backups],
        },
        {
            "Sid": "TagBackupsForRetention",
            "Effect": "Allow",
            "Action": ["s3:PutObjectTagging"],
            "Resource": [backups],
        },
        {
            "Sid": "ReadBackTagsAfterWriting",
            "Effect": "Allow",
            "Action": ["s3:GetObjectTagging"],
            "Resource": [backups, logs],
        },
        {
            "Sid": "LockEachArchivedObject",
            "Effect": "Allow",
            "Action": ["s3:PutObjectRetention"],
            "Resource": [backups, logs],
        },
        {
            "Sid": "ReadWhetherBucketsLock",
            "Effect": "Allow",
            "Action": ["s3:GetBucketObjectLockConfiguration"],
            "Resource": [f"arn:aws:s3:::{backups_bucket}", f"arn:aws:s3:::{audit_logs_bucket}"],
        },
        {
            "Sid": "AbortFailedBackupUploads",
            "Effect": "Allow",
            "Action": ["s3:AbortMultipartUpload"],
            "Resource": [backups],
        },
        {
            "Sid": "WriteTaggedDeploymentLogs",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:PutObjectTagging"],
            "Resource": [logs],
        },
        {
            "Sid": "ReadDeploymentLogsForHashChain",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [logs],
        },
        {
            "Sid": "ListDeploymentLogsForHashChain",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::{audit_logs_bucket}"],
            "Condition": {"StringLike": {"s3:prefix": [DEPLOYMENT_LOGS_PREFIX + "*"]}},
        },
        {
            "Sid": "DoctorProbeOnly",
            "Effect": "Allow",
            "Action": DOCTOR_ACTIONS,
            "Resource": [f"arn:aws:s3:::{b}/{DOCTOR_PREFIX}*" for b in (backups_bucket, audit_logs_bucket)],
        },
    ]
    if kms_key_arn is not None:
        statements.append(
            _kms_statement(
                sponsor, kms_key_arn, "EncryptWithArchivalKmsKey", ["kms:GenerateDataKey", "kms:Decrypt"]
            )
        )
    return {"Version": POLICY_VERSION, "Statement": statements}


def reader_policy(
    sponsor: str, backups_bucket: str, audit_logs_bucket: str, kms_key_arn: str | None = None
) -> dict[str, Any]:
    """The IAM policy of whoever checks the archive rather than writes it: ``verify --logs`` and ``evidence``.

    Read-only on the record, and never on a backup's bytes:

    - list and read (GET, and HEAD, which is authorised as s3:GetObject) the
      audit bucket's ``deployments/``, ``drills/`` and ``evidence/``: the logs
      (the hash chain), the drills' reports, earlier reports. They hold no
      clinical data and no secret;
    - list the backups bucket's ``backups/``: keys, sizes and storage classes
      (an evidence report's "every backup, and its storage class now"). Listing
      reads no backup; there is no s3:GetObject on ``backups/``;
    - ``s3:RestoreObject`` on ``deployments/*``: ``verify --logs
      --request-glacier-restore`` asks Glacier for a readable copy of cold logs;
    - write an evidence report under ``evidence/`` only: PutObject with its
      tags, read the tags back, give it its own compliance retention where the
      bucket locks (and ask whether it does). It cannot delete or change
      anything, there or anywhere.

    Beyond what the archival role has (least_privilege_policy), this adds the
    listing of ``backups/`` keys, reading ``drills/``, the Glacier restore of
    logs and the writes under ``evidence/``; the archival role can run
    ``verify --logs`` already, and an evidence report without the listing of
    ``backups/`` (which then says the storage classes are unknown).
    """
    validate_sponsor(sponsor)
    validate_bucket(backups_bucket, "SPONSOR_BACKUPS_BUCKET", sponsor)
    validate_bucket(audit_logs_bucket, "SPONSOR_AUDIT_LOGS_BUCKET", sponsor)
    audit = f"arn:aws:s3:::{audit_logs_bucket}"
    records = [f"{audit}/{p}*" for p in (DEPLOYMENT_LOGS_PREFIX, DRILLS_PREFIX, EVIDENCE_PREFIX)]
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ListAuditRecords",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [audit],
            "Condition": {
                "StringLike": {
                    "s3:prefix": [p + "*" for p in (DEPLOYMENT_LOGS_PREFIX, DRILLS_PREFIX, EVIDENCE_PREFIX)]
                }
            },
        },
        {"Sid": "ReadAuditRecords", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": records},
        {
            "Sid": "ListBackupKeysNotTheirContent",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::{backups_bucket}"],
            "Condition": {"StringLike": {"s3:prefix": [BACKUPS_PREFIX + "*"]}},
        },
        {
            "Sid": "ThawColdDeploymentLogs",
            "Effect": "Allow",
            "Action": ["s3:RestoreObject"],
            "Resource": [f"{audit}/{DEPLOYMENT_LOGS_PREFIX}*"],
        },
        {
            "Sid": "StoreEvidenceReports",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:PutObjectTagging", "s3:GetObjectTagging", "s3:PutObjectRetention"],
            "Resource": [f"{audit}/{EVIDENCE_PREFIX}*"],
        },
        {
            "Sid": "ReadWhetherAuditBucketLocks",
            "Effect": "Allow",
            "Action": ["s3:GetBucketObjectLockConfiguration"],
            "Resource": [audit],
        },
    ]
    if kms_key_arn is not None:
        statements.append(
            _kms_statement(
                sponsor,
                kms_key_arn,
                "ReadLogsAndEncryptReportsWithKmsKey",
                ["kms:Decrypt", "kms:GenerateDataKey"],
            )
        )
    return {"Version": POLICY_VERSION, "Statement": statements}


def _kms_statement(sponsor: str, kms_key_arn: str, sid: str, actions: list[str]) -> dict[str, Any]:
    """The statement that lets a policy use the sponsor's KMS key; ConfigError unless it is a key ARN."""
    if not _KMS_KEY_ARN_RE.fullmatch(kms_key_arn):
        raise ConfigError(
            f"KMS key {kms_key_arn!r} for sponsor {sponsor} is not a key ARN; give the full "
            "arn:aws:kms:REGION:ACCOUNT:key/KEY-ID (an alias or bare id grants nothing in a policy)."
        )
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": [kms_key_arn]}


def policy_json(
    sponsor: str,
    backups_bucket: str,
    audit_logs_bucket: str,
    kms_key_arn: str | None = None,
    reader: bool = False,
) -> str:
    """The archival role's policy (or with ``reader`` the checker's) as JSON, for Terraform or ``aws iam``."""
    make = reader_policy if reader else least_privilege_policy
    return json.dumps(make(sponsor, backups_bucket, audit_logs_bucket, kms_key_arn), indent=2)
