"""roles: store the roles the backup's objects refer to beside it, so it restores on a new cluster.

pg_dump leaves the roles out; ``dump`` read them in the dump's own snapshot
(hht_archival/adapters/pg_roles.py). The object is small, so it goes in one PUT
carrying its SHA-256, tagged and encrypted as it is created (``s3.put_json``,
as the deployment log): it is whole at its key or absent. It lives in the
backups bucket, beside the backup and under the same retention, not in the
audit bucket: it is part of what a restore needs, and with password hashes
(ARCHIVAL_ROLE_PASSWORDS) it is a secret the archival role must not be able to
read back; that role can read ``deployments/`` but nothing under ``backups/``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from blocks.config import SponsorConfig
from hht_archival.adapters import s3
from hht_archival.landed import write_json
from hht_archival.naming import RunNames
from hht_archival.progress import announce
from hht_archival.roles import DatabaseRoles
from tasks import archival_task


@dataclass(frozen=True)
class StoredRoles:
    location: str
    sha256: str
    count: int


@archival_task(name="roles")
def store_roles(config: SponsorConfig, names: RunNames, roles: DatabaseRoles) -> StoredRoles:
    body = roles.document(
        sponsor=config.sponsor,
        environment=config.environment,
        timestamp=names.timestamp,
        backup_key=names.backup_key,
    )
    sha256 = hashlib.sha256(body).hexdigest()
    tags = names.retention_tags("database-roles", sha256)
    if roles.password_hashes:
        tags["password-hashes"] = "true"  # so a bucket policy or an auditor can single these out
    client = s3.client_for(config)
    # Tags read back, retention as the backup's; the role cannot read its state (it may hold hashes).
    write_json(
        client,
        config.backups_bucket,
        names.roles_key,
        body,
        what="roles object",
        tags=tags,
        sponsor=config.sponsor,
        kms_key_id=config.sse_kms_key_id,
        retain_until=names.retain_until,
    )
    location = f"s3://{config.backups_bucket}/{names.roles_key}"
    announce(
        "roles: %d role(s) the database refers to (%s), to %s%s",
        len(roles.roles),
        ", ".join(roles.names) or "none",
        location,
        " with password hashes" if roles.password_hashes else "",
    )
    return StoredRoles(location=location, sha256=sha256, count=len(roles.roles))
