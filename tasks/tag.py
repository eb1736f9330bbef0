"""tag: make sure the backup carries the tags a 7-year retention policy and an auditor select on.

upload already creates the object with them; this step re-asserts them (idempotent), so a
backup uploaded by an older version or tagged by hand ends the run with exactly these tags.
"""

from __future__ import annotations

from blocks.config import SponsorConfig
from hht_archival.adapters import s3
from hht_archival.naming import RETENTION_YEARS, RunNames
from hht_archival.progress import announce
from tasks import archival_task


@archival_task(name="tag")
def tag(config: SponsorConfig, names: RunNames, sha256: str) -> dict[str, str]:
    tags = names.retention_tags("database-backup", sha256)
    client = s3.make_client(config.region, config.aws_credentials)
    s3.put_tags(client, config.backups_bucket, names.backup_key, tags, config.sponsor)
    announce("tag: retain until %s (%s years)", names.retain_until, RETENTION_YEARS)
    return tags
