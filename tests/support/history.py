"""A sponsor's history of archives for days gone by, written fast through the code that writes them.

Why: an evidence report is about a year or seven; running 365 real archives
would take an hour. Each day here gets what a run leaves in S3, made by the
run's own writers: its keys from RunNames, its deployment log from new_log and
write_log.log_object (linked into the hash chain, with the metadata HEAD
reads once cold), its backup tagged as tag_backup tags it; drills through the
drill's own report writer. Only the bytes of the backup are made up (small),
and nothing is read back, so a day costs two PUTs.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime, timedelta

from hht_archival.adapters import s3
from hht_archival.audit_chain import Link
from hht_archival.naming import RunNames
from hht_archival.record import new_log
from tasks.write_log import log_object

TABLES = {"public.diary_entries": 3000, "public.participants": 120, "public.sites": 4}


def write_history(client, config, days: list[date], *, failed=(), small=(), link: Link | None = None) -> Link:
    """Archive each of ``days`` at 02:00 UTC (``failed`` days fail, ``small`` days' backups shrink to a
    tenth); return the link to the newest log, for the next run to follow."""
    link = link or Link(None, None)
    for day in days:
        moment = datetime(day.year, day.month, day.day, 2, 0, 0, tzinfo=UTC)
        names = RunNames(config.sponsor, config.environment, moment)
        started = names.timestamp
        record = new_log(config, names, started, flow_run_id=str(uuid.uuid4()))
        finished = (moment + timedelta(seconds=40 + day.toordinal() % 20)).isoformat().replace("+00:00", "Z")
        common = {"s3_archival_enabled": True, "flag_source": "environment", "finished_at": finished}
        if day in failed:
            error = f"pg_dump failed for sponsor {config.sponsor}: the database was not reachable on {day}."
            record = record.model_copy(update={**common, "status": "failed", "error": error})
        else:
            size = 200_000 + day.toordinal() % 5000
            body = (b"%d" % day.toordinal()) * ((size // 60) if day in small else size // 6)
            sha = hashlib.sha256(body).hexdigest()
            s3.put_json(
                client,
                config.backups_bucket,
                names.backup_key,
                body,
                tags=names.retention_tags("database-backup", sha),
                sponsor=config.sponsor,
                content_type="application/gzip",
            )
            record = record.model_copy(
                update={
                    **common,
                    "status": "archived",
                    "backup_location": f"s3://{config.backups_bucket}/{names.backup_key}",
                    "backup_size": len(body),
                    "backup_sha256": sha,
                    "upload_parts": 0,
                    "retain_until": names.retain_until,
                    "table_counts": TABLES,
                    "deployment": {"version": "2.4.0", "git_sha": "0123abcd"},
                }
            )
        _, log_body, tags, metadata = log_object(record, names, config.audit_logs_bucket, link)
        s3.put_json(
            client,
            config.audit_logs_bucket,
            names.log_key,
            log_body,
            tags=tags,
            sponsor=config.sponsor,
            metadata=metadata,
        )
        link = Link(names.log_key, metadata["sha256"])
    return link


def write_drill(client, config, day: date, backup_key: str, passed: bool) -> str:
    """A restore drill's report on ``day``, stored by the drill's own writer; return its location."""
    from hht_archival.drill import _store_report

    started = datetime(day.year, day.month, day.day, 4, 0, 0, tzinfo=UTC)
    tables = dict(TABLES) if passed else {**TABLES, "public.diary_entries": 2990}
    report = {
        "schema_version": 2,
        "kind": "restore-drill",
        "sponsor": config.sponsor,
        "environment": config.environment,
        "started_at": started.isoformat().replace("+00:00", "Z"),
        "status": "passed" if passed else "failed",
        "backup_location": f"s3://{config.backups_bucket}/{backup_key}",
        "tables": tables,
        "error": None if passed else "Table public.diary_entries differs: 2990 rows restored, 3000 recorded.",
    }
    return _store_report(client, config, report, started)


def freeze(client, bucket: str, key: str) -> None:
    """What the lifecycle rule does at day 90 (metadata, tags and checksum go along)."""
    client.copy_object(
        Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key}, StorageClass="DEEP_ARCHIVE"
    )
