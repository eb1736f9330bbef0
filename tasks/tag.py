"""tag: make sure the backup carries the tags a 7-year retention policy and an auditor select on.

upload already creates the object with them; this step re-asserts them (idempotent), so a
backup uploaded by an older version or tagged by hand ends the run with exactly these tags.
Then it reads them back (some S3-compatible stores answer 200 and keep none) and, where the
bucket has Object Lock, gives the backup its own compliance retention (hht_archival/landed.py).
"""

from __future__ import annotations

from blocks.config import SponsorConfig
from hht_archival.adapters import s3
from hht_archival.landed import Landed, confirm
from hht_archival.naming import RETENTION_YEARS, RunNames
from hht_archival.progress import announce
from tasks import archival_task


@archival_task(name="tag")
def tag(config: SponsorConfig, names: RunNames, sha256: str) -> Landed:
    tags = names.retention_tags("database-backup", sha256)
    client = s3.client_for(config)
    s3.put_tags(client, config.backups_bucket, names.backup_key, tags, config.sponsor)
    landed = confirm(
        client,
        config.backups_bucket,
        names.backup_key,
        what="backup",
        tags=tags,
        sponsor=config.sponsor,
        retain_until=names.retain_until,
    )
    until = landed.locked_until
    locked = f", locked (compliance) until {until:%Y-%m-%d %H:%M} UTC" if until else ""
    announce("tag: retain until %s (%s years)%s", names.retain_until, RETENTION_YEARS, locked)
    return landed
