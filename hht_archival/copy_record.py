"""What a run's log says about its second copy: where it landed, or why it did not (a degraded run).

Why its own model: the first copy's fields have been the log's top level
since schema 1, and readers of seven years of logs rely on them; the second
copy is one nested entry beside them (``second_copy``), plus the one sentence
(``degraded``) that makes an archived run a degraded one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class SecondCopyRecord(BaseModel):
    """The second destination of one run, as the first copy's log and the local log record it."""

    name: str = Field(description="The destination's name (ARCHIVAL_COPY2_NAME; default copy2).")
    where: str = Field(description="Its name, backups bucket, region and endpoint host.")
    status: Literal["archived", "failed"]
    backup_location: str | None = None
    roles_location: str | None = None
    log_location: str | None = Field(default=None, description="Its own copy of the log, in its chain.")
    object_lock_retain_until: str | None = None
    upload_parts: int | None = None
    s3_retries: int | None = None
    waited_seconds: float | None = Field(
        default=None, description="How long the stream waited for this copy alone: its cost to the first."
    )
    error: str | None = Field(default=None, description="Why it was not archived, in one sentence.")
