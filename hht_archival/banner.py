"""The seed's 'not yet enabled' banner, filled in with this sponsor's buckets and commands.

The text is the seed's, so a person who knows the seed recognises it; its last
line names docs/WIP/phase5-pr1-multi-sponsor-infrastructure-setup.md as the
seed did, and that file is this project's setup checklist for a sponsor.
"""

from __future__ import annotations

RULE = "═" * 56
LOG_LOCAL_ONLY = "ℹ️  S3 audit log archival not yet enabled - log saved locally only"
ENABLED_LINE = "✅ S3 backup archival is ENABLED"


_DECIDED_BY = {
    "default": "nothing sets {variable}, and unset means off",
    "environment": "{variable} is set to a false value",
    "parameter": "this run was started with archival disabled (--disable / enabled=false)",
    "block": "the sponsor block sets enable_s3_backup_archival to false, which the environment "
    "cannot override: change the block",
    "prefect-variable": "the Prefect variable enable-s3-backup-archival-{sponsor}-{environment} is false",
}


def disabled_banner(
    sponsor: str,
    environment: str,
    region: str,
    backups_bucket: str,
    audit_bucket: str,
    flag_source: str = "default",
    flag_variable: str = "ENABLE_S3_BACKUP_ARCHIVAL",
) -> str:
    """Return the banner a user sees when archival is off: why, what to set up, how to enable it."""
    project = f"hht-diary-{sponsor}"
    decided = _DECIDED_BY.get(flag_source, flag_source).format(
        sponsor=sponsor, environment=environment, variable=flag_variable
    )
    return f"""{RULE}
  ℹ️  S3 BACKUP ARCHIVAL NOT YET ENABLED
{RULE}

Database backup archival to S3 is currently disabled
for sponsor {sponsor} ({environment}): {decided}.

To enable this feature, complete the following setup:
  1. Apply Terraform configuration (create S3 buckets)
     - {backups_bucket}
     - {audit_bucket}

  2. Configure Doppler secrets:
     - SPONSOR_BACKUPS_BUCKET={backups_bucket}
     - SPONSOR_AUDIT_LOGS_BUCKET={audit_bucket}
     - SPONSOR_AWS_REGION={region}

  3. Verify AWS credentials are configured
     aws s3 ls s3://{backups_bucket}/

  4. Enable the feature flag in Doppler:
     doppler secrets set ENABLE_S3_BACKUP_ARCHIVAL=true \\
       --project {project} --config {environment}

     (or for one run: hht-archival run --sponsor {sponsor} --environment {environment} --enable)

See: docs/WIP/phase5-pr1-multi-sponsor-infrastructure-setup.md
{RULE}"""


def banner_for(config, flag_source: str) -> str:
    """The banner for one sponsor's resolved configuration (blocks/config.SponsorConfig)."""
    from hht_archival.flag_here import variable_to_set

    return disabled_banner(
        config.sponsor,
        config.environment,
        config.region,
        config.backups_bucket,
        config.audit_logs_bucket,
        flag_source,
        config.flag.environment_variable if flag_source == "environment" else variable_to_set(config),
    )
