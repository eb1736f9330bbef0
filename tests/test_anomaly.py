"""Anomaly rules and expectation windows, without any server: what counts as shrunken, and what does not."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hht_archival.alerts import describe, parse_every
from hht_archival.anomaly import find_anomalies
from hht_archival.history import Archived

MIB = 1024 * 1024


def _archived(size: int, counts: dict[str, int] | None = None, extension: str = "sql.gz") -> Archived:
    return Archived(
        "deployments/k.json", "2026-03-01T02:00:00Z", f"s3://b/backups/k.{extension}", size, counts
    )


def test_a_backup_below_half_the_median_is_anomalous_and_the_sentence_gives_the_figures():
    previous = [_archived(10 * MIB), _archived(11 * MIB), _archived(30 * MIB)]  # median 11 MiB
    [anomaly] = find_anomalies(5 * MIB, "sql.gz", None, previous, 0.5, 0.2)
    assert anomaly.kind == "size"
    assert anomaly.sentence.startswith("the backup is 5.0 MiB, 45% of the median of the previous 3 backup(s)")
    assert "(11.0 MiB), below the 50% limit (ARCHIVAL_ANOMALY_SIZE_FRACTION)" in anomaly.sentence


def test_one_odd_night_does_not_move_the_baseline_and_other_formats_do_not_count():
    previous = [_archived(MIB), _archived(10 * MIB), _archived(10 * MIB), _archived(1, extension="dump")]
    assert find_anomalies(6 * MIB, "sql.gz", None, previous, 0.5, 0.2) == []
    assert find_anomalies(4 * MIB, "sql.gz", None, previous, 0.5, 0.2)[0].kind == "size"
    assert find_anomalies(4 * MIB, "sql.zst", None, previous, 0.5, 0.2) == []  # no zst history yet


def test_a_table_that_lost_rows_beyond_the_limit_or_vanished_is_named():
    before = {"public.diary_entries": 3000, "public.patients": 1000, "public.sponsors": 3, "public.gone": 500}
    now = {"public.diary_entries": 2000, "public.patients": 900, "public.sponsors": 0}
    found = find_anomalies(MIB, "sql.gz", now, [_archived(MIB, before)], 0.5, 0.2)
    assert [(a.kind, a.table) for a in found] == [("rows", "public.diary_entries"), ("rows", "public.gone")]
    assert found[0].sentence == (
        "table public.diary_entries has 2,000 rows, 3,000 in the previous backup (-33%, beyond the 20% "
        "limit of ARCHIVAL_ANOMALY_ROW_DROP)"
    )
    assert found[1].sentence == "table public.gone is missing; it had 500 rows before"


def test_the_first_backup_and_disabled_limits_find_nothing():
    assert find_anomalies(MIB, "sql.gz", {"public.t": 1}, [], 0.5, 0.2) == []
    previous = [_archived(100 * MIB, {"public.t": 10_000})]
    assert find_anomalies(MIB, "sql.gz", {"public.t": 0}, previous, 0, 1) == []


@pytest.mark.parametrize(
    ("text", "every", "shown"),
    [
        ("26h", timedelta(hours=26), "26 h"),
        ("8d", timedelta(days=8), "8 d"),
        ("15s", timedelta(seconds=15), "15 s"),
    ],
)
def test_expectation_windows_read_like_a_person_writes_them(text, every, shown):
    assert parse_every(text, "--archive-every") == every
    assert describe(every) == shown


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("26", "--archive-every '26' is not a duration; write it like 26h, 8d, 90m or 30s."),
        ("5s", "--archive-every '5s' is shorter than Prefect's minimum of 10 s for an expectation."),
    ],
)
def test_a_bad_window_is_one_sentence(text, sentence):
    with pytest.raises(ValueError) as refused:
        parse_every(text, "--archive-every")
    assert str(refused.value) == sentence
