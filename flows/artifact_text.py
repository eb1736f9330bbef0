"""What the run artifacts say, as an auditor reads them: units, whole keys, links, the lock stated plainly.

Why lists and not tables for a run's own facts: the Prefect UI draws every
table cell on one line and cuts it with an ellipsis, so a key, a SHA-256 or a
console link in a cell is never seen whole. Tables are kept for short values
only (steps, row counts, the sponsors of a night). Nothing here writes: the
functions return markdown or rows, and flows/run_artifacts.py publishes them.
"""

from datetime import datetime
from urllib.parse import quote, urlsplit

from hht_archival.naming import RETENTION_YEARS, split_location
from hht_archival.progress import human_size
from hht_archival.record import LOCAL_ONLY, NOT_CONFIGURED

_AWS_HOSTS = (".amazonaws.com", ".amazonaws.com.cn")
DECIDED_BY = {
    "parameter": "this run's parameter",
    "environment": "the sponsor's ENABLE_S3_BACKUP_ARCHIVAL",
    "block": "the sponsor block",
    "prefect-variable": "the Prefect variable",
    "default": "the default (off)",
}


def ui_url() -> str | None:
    """Where the Prefect UI is: PREFECT_UI_URL when set, else the API's address without ``/api`` (where
    `prefect server start` serves its UI), and None on the embedded API, whose address is a server that
    is gone once the command ends (links are then plain ids)."""
    try:
        from prefect.settings import get_current_settings

        from hht_archival.engine import embedded_api_in_use

        settings = get_current_settings()
        if "ui_url" in settings.model_fields_set and settings.ui_url:
            return settings.ui_url.rstrip("/")
        api = (settings.api.url or "").rstrip("/")
        if embedded_api_in_use() or not api.endswith("/api"):
            return None
        return api.removesuffix("/api")
    except Exception:
        return None


def run_link(flow_run_id: str | None, text: str | None = None) -> str:
    """A flow run as a link to its page in the Prefect UI, or its id when no UI URL is set."""
    if not flow_run_id:
        return "none"
    base = ui_url()
    return f"[{text or flow_run_id}]({base}/runs/flow-run/{flow_run_id})" if base else f"`{flow_run_id}`"


def object_link(location: str, region: str, endpoint: str | None) -> str:
    """Where a person opens an object: the AWS console on AWS, the endpoint's own URL on any other S3."""
    bucket, key = split_location(location)
    host = urlsplit(endpoint or "").hostname or ""
    if not endpoint or host.endswith(_AWS_HOSTS):
        url = (
            f"https://{region}.console.aws.amazon.com/s3/object/{bucket}?region={region}&prefix={quote(key)}"
        )
        return f"[open in the AWS console]({url})"
    return f"[open at {endpoint.rstrip('/')}]({endpoint.rstrip('/')}/{bucket}/{quote(key)})"


def size_text(size: int | None, before: int | None = None) -> str:
    """``1.2 MiB (1,258,291 bytes)``, and the size before compression when known."""
    if size is None:
        return "unknown"
    text = f"{human_size(size)} ({size:,} bytes)"
    return f"{text}; {human_size(before)} ({before:,} bytes) before compression" if before else text


def _when(iso: str | None) -> str:
    if not iso:
        return "unknown"
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment.second == 0 else f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def retention_text(record: dict) -> str:
    """The backup's retention as it is: locked by S3 until a moment, or only tagged (and deletable)."""
    tagged = f"tagged for {RETENTION_YEARS} years (retain-until {record.get('retain_until')})"
    locked = record.get("object_lock_retain_until")
    if locked:
        return f"retained until {_when(locked)} by Object Lock COMPLIANCE; {tagged}"
    return f"{tagged}; not locked (the backups bucket has no Object Lock, so S3 does not stop a deletion)"


def rows_text(counts: dict | None) -> str:
    if counts is None:
        return "not counted (ARCHIVAL_RECORD_ROW_COUNTS is off)"
    rows, tables = sum(counts.values()), len(counts)
    return f"{rows:,} row{'s' * (rows != 1)} in {tables:,} table{'s' * (tables != 1)}"


def flag_text(record: dict) -> str:
    state = "on" if record.get("s3_archival_enabled") else "off"
    return f"{state}, decided by {DECIDED_BY.get(record.get('flag_source'), record.get('flag_source'))}"


_NOT_STORED = {
    NOT_CONFIGURED: "none: nothing was archived",
    LOCAL_ONLY: "kept only on the machine that ran the run (not uploaded)",
}


def _key(location: str | None, empty: str = "none") -> str:
    if location and location.startswith("s3://"):
        return f"`{location}`"
    return _NOT_STORED.get(location, location or empty)


def backup_markdown(record: dict, endpoint: str | None) -> str:
    """The archived backup as a person checks it: where (with a link), how big, its proofs, its lock."""
    location = record["backup_location"]
    lines = [
        f"### Backup of {record['sponsor']} ({record['environment']})",
        "",
        f"- **Backup:** `{location}` ({object_link(location, record['region'], endpoint)})",
        f"- **Size:** {size_text(record['backup_size'], record.get('backup_uncompressed_size'))}",
        f"- **SHA-256:** `{record['backup_sha256']}` (of the stored bytes, checked by S3 on upload)",
        f"- **Retention:** {retention_text(record)}",
        f"- **Deployment log:** {_key(record.get('log_location'))}",
        f"- **Roles:** {_key(record.get('roles_location'))}",
        f"- **Archival:** {flag_text(record)}",
        f"- **Rows:** {rows_text(record.get('table_counts'))}",
        f"- **Flow run:** {run_link(record.get('flow_run_id'))}",
    ]
    lines[3:3] = second_copy_lines(record)
    return "\n".join(lines) + "\n"


def second_copy_lines(record: dict) -> list[str]:
    """The second destination, where the sponsor has one: where it landed, or why not (degraded)."""
    second = record.get("second_copy")
    if not second:
        return []
    if second.get("status") == "archived":
        lock = (
            f", locked until {second['object_lock_retain_until']}"
            if second.get("object_lock_retain_until")
            else ""
        )
        return [
            f"- **Second copy ({second['name']}):** {_key(second.get('backup_location'))}{lock}; "
            f"its log {_key(second.get('log_location'))}"
        ]
    return [
        f"- **Second copy ({second['name']}):** ⚠️ not archived, the run is degraded: {second.get('error')}"
    ]


def log_markdown(record: dict) -> str:
    """The run's JSON log as sentences and short tables: no JSON, no "null", every size with its unit."""
    archived = record.get("status") == "archived"
    lines = [f"### Deployment log of {record['sponsor']} ({record['environment']}): {record['status']}", ""]
    if record.get("error"):
        lines.append(f"- **Why:** {record['error']}")
    lines += [
        f"- **When:** {_when(record.get('started_at'))} to {_when(record.get('finished_at'))}",
        f"- **Archival:** {flag_text(record)}",
        f"- **Backup:** {_key(record.get('backup_location'), 'none')}",
    ]
    if archived:
        lines += [
            f"- **Size:** {size_text(record.get('backup_size'), record.get('backup_uncompressed_size'))}",
            f"- **SHA-256:** `{record.get('backup_sha256')}`",
            f"- **Retention:** {retention_text(record)}",
            f"- **Roles:** {_key(record.get('roles_location'))}",
            f"- **Rows:** {rows_text(record.get('table_counts'))}",
            f"- **Upload:** {_upload_text(record)}",
        ]
    lines += second_copy_lines(record)
    lines.append(f"- **This log:** {_key(record.get('log_location'))}")
    if record.get("log_upload_error"):
        lines.append(f"- **Log upload:** {record['log_upload_error']}")
    if record.get("previous_log"):
        lines.append(
            f"- **Previous log:** `{record['previous_log']}` (SHA-256 `{record.get('previous_log_sha256')}`)"
        )
    if record.get("database"):
        lines.append(f"- **Database:** `{record['database']}` (password masked)")
    if record.get("backups_bucket"):
        backups, audit = record["backups_bucket"], record.get("audit_logs_bucket")
        lines.append(f"- **Buckets:** backups `{backups}`, audit logs `{audit}` ({record.get('region')})")
    if record.get("deployment"):
        shown = ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in record["deployment"].items())
        lines.append(f"- **Application deployment:** {shown}")
    lines.append(f"- **Flow run:** {run_link(record.get('flow_run_id'))}")
    sources = {k.replace("_", " "): v for k, v in (record.get("settings_sources") or {}).items()}
    lines += _table("Where each setting came from", ("setting", "source"), sources)
    steps = {s["step"]: f"{s['seconds']:.1f} s" for s in record.get("steps") or []}
    lines += _table("Steps", ("step", "time"), steps)
    counts = {name: f"{rows:,}" for name, rows in (record.get("table_counts") or {}).items()}
    lines += _table("Rows per table", ("table", "rows"), counts)
    return "\n".join(lines) + f"\n\nLog schema version {record.get('schema_version')}.\n"


def _upload_text(record: dict) -> str:
    parts, retries, attempts = (record.get(k) or 0 for k in ("upload_parts", "s3_retries", "stream_attempts"))
    text = f"{parts:,} parts" if parts else "one request"
    text += f", {retries:,} request{'s' * (retries != 1)} repeated" if retries else ", none repeated"
    return text + (f", the stream restarted {attempts - 1} time(s)" if attempts > 1 else "")


def _table(title: str, header: tuple[str, str], values: dict | None) -> list[str]:
    if not values:
        return []
    rows = [f"| {name} | {value} |" for name, value in values.items()]
    return ["", f"#### {title}", "", f"| {header[0]} | {header[1]} |", "| --- | --- |", *rows]
