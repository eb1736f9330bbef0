"""Anomalies: a backup that archived fine but looks wrong, because it shrank against the recent ones.

The quiet failures backup users fear: the wrong database dumped, a table
truncated by a bad migration. Both leave a backup that "succeeded". So after a
backup and its log are archived, its compressed size is compared with the
median of the sponsor's recent backups of the same format (the median, so one
odd night does not move the baseline), and each table's row count with the
previous backup's; what the recent ones were comes from Prefect's record of
them (hht_archival/baseline.py). Below ``ARCHIVAL_ANOMALY_SIZE_FRACTION`` of the median
(default 0.5), or a table that lost more than ``ARCHIVAL_ANOMALY_ROW_DROP`` of
its rows (default 0.2) or is gone, is an anomaly, named in one sentence.

What it does to the run: nothing is lost, so the backup stays and the run is
not Failed (a Failed pre-deploy run would stop an application's deployment for
a backup that exists). It ends ``Completed`` with the state name ``Anomalous``
and the sentence as its message, which the Prefect UI shows in the run list,
and a notification goes out (hht_archival/outcomes.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hht_archival.history import Archived, median_size
from hht_archival.progress import human_size

ANOMALOUS_STATE = "Anomalous"
# A table this small in the previous backup is not compared: a few rows coming and going in a
# lookup or queue table is normal, and a percentage of a handful of rows means nothing.
MIN_ROWS_COMPARED = 100


@dataclass(frozen=True)
class Anomaly:
    kind: str  # "size" or "rows"
    table: str | None
    sentence: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "table": self.table, "sentence": self.sentence}


def find_anomalies(
    size: int,
    extension: str,
    table_counts: dict[str, int] | None,
    previous: list[Archived],
    size_fraction: float,
    row_drop: float,
) -> list[Anomaly]:
    """Compare one backup with the previous ones (newest first); one Anomaly per finding."""
    found: list[Anomaly] = []
    median, over = median_size(previous, extension)
    if median and size_fraction > 0 and size < size_fraction * median:
        found.append(
            Anomaly(
                "size",
                None,
                f"the backup is {human_size(size)}, {size / median:.0%} of the median of the previous "
                f"{over} backup(s) ({human_size(int(median))}), below the {size_fraction:.0%} limit "
                "(ARCHIVAL_ANOMALY_SIZE_FRACTION)",
            )
        )
    before = previous[0].table_counts if previous else None
    if before and table_counts is not None and row_drop < 1:
        for table, rows_before in sorted(before.items()):
            if not isinstance(rows_before, int) or rows_before < MIN_ROWS_COMPARED:
                continue
            rows_now = table_counts.get(table)
            if rows_now is None:
                found.append(
                    Anomaly("rows", table, f"table {table} is missing; it had {rows_before:,} rows before")
                )
            elif rows_now < rows_before * (1 - row_drop):
                found.append(
                    Anomaly(
                        "rows",
                        table,
                        f"table {table} has {rows_now:,} rows, {rows_before:,} in the previous backup "
                        f"({rows_now / rows_before - 1:.0%}, beyond the {row_drop:.0%} limit of "
                        "ARCHIVAL_ANOMALY_ROW_DROP)",
                    )
                )
    return found


def summary(sponsor: str, environment: str, anomalies: list[Anomaly]) -> str:
    """One sentence for the run's state message and the CLI."""
    causes = "; ".join(a.sentence for a in anomalies)
    return (
        f"Anomalous backup for sponsor {sponsor} ({environment}): {causes}. It is archived; check that the "
        "database is the right one and that no table was emptied."
    )


def final_state(result: dict[str, Any], anomalies: list[Anomaly]) -> Any:
    """The flow's return value: the result itself, or a Completed state named Anomalous carrying it.

    A state returned by a flow becomes its run's final state, and whoever called
    the flow still gets ``result``, the log as written (Prefect unwraps the state's data).
    """
    if not anomalies:
        return result
    from prefect.states import Completed

    sentences = "; ".join(a.sentence for a in anomalies)
    who = f"sponsor {result.get('sponsor')} ({result.get('environment')})"
    message = f"Anomalous backup for {who}: {sentences}."
    return Completed(name=ANOMALOUS_STATE, message=message, data=result)
