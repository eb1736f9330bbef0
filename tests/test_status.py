"""status as an operator reads it: ages to the minute, trends that never say "-0%", a sponsor's archives
whatever its flag says now. The archive is read from real deployment logs in S3 (moto); the columns the
Prefect server's ledgers fill are covered with a real server in tests/test_alerts.py.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from hht_archival.alert_events import now_utc, shown
from hht_archival.naming import RunNames
from hht_archival.status import age, trend
from tests.conftest import AUDIT, BACKUPS, SPONSOR, run_cli


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (20, "under a minute"),
        (180, "3 min"),  # it said "0 s": 0.05 h rounded to 0.0 h
        (390, "7 min"),  # 6½ min; it said "6 min" (0.1 h)
        (3 * 3600 + 5 * 60, "3 h 5 min"),
        (26 * 3600, "26 h"),
        (50 * 3600 + 10 * 60, "2 d 2 h"),
        (8 * 86400, "8 d"),
    ],
)
def test_ages_read_to_the_minute(seconds, said):
    assert age(seconds) == said


@pytest.mark.parametrize(
    ("size", "median", "over", "said"),
    [
        (182_700, 183_000, 1, "0% vs the previous backup"),  # -0.16%: it said "-0% vs median of 1"
        (1_004, 1_000, 3, "0% vs median of 3"),
        (170, 1_000, 7, "-83% vs median of 7"),
        (1_100, 1_000, 2, "+10% vs median of 2"),
    ],
)
def test_a_trend_that_rounds_to_nothing_says_0_percent(size, median, over, said):
    assert trend(size, median, over) == said


def test_status_lists_the_archives_of_a_sponsor_whose_flag_is_now_off(s3):
    """Turning archival off keeps 7 years of backups: status still shows them (it showed "-"), and a
    sponsor that is off needs no attention (exit 0)."""
    now = now_utc()
    newest = None
    for ago, size in ((timedelta(days=2), 183_000), (timedelta(seconds=160), 182_700)):
        names = RunNames(SPONSOR, "production", now - ago)
        record = {
            "status": "archived",
            "sponsor": SPONSOR,
            "environment": "production",
            "timestamp": names.timestamp,
            "backup_location": f"s3://{BACKUPS}/{names.backup_key}",
            "backup_size": size,
        }
        s3.put_object(Bucket=AUDIT, Key=names.log_key, Body=json.dumps(record).encode())
        newest = names.timestamp

    done = run_cli("status", "--sponsor", SPONSOR, env={"ENABLE_S3_BACKUP_ARCHIVAL": "false"})

    print(done.stdout)
    assert done.returncode == 0, done.stderr
    header, line = done.stdout.splitlines()
    assert line.startswith(
        f"titan (production)  disabled  3 min ago ({shown(newest)})  178.4 KiB (0% vs the previous backup)  "
    )
