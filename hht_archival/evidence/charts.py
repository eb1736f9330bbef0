"""The evidence report's pictures, where people look rather than read: size, duration, runs by outcome.

Drawn with pygal: pure Python, SVG only, 1.3 MB and no numpy, imported here
only (the other commands never pay for it; about 40 ms). Each chart is one
SVG, inline in the report's HTML, without pygal's tooltip script (``js=[]``)
or the inline configuration script it writes anyway, so the report runs
nothing, opens with no network and prints as drawn.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime, timedelta

OUTCOME_COLOURS = {
    "archived": "#2e7d32",
    "anomalous": "#f9a825",
    "failed": "#c62828",
    "crashed": "#6a1b9a",
    "cancelled": "#757575",
    "unknown": "#90a4ae",
}
_WIDTH, _HEIGHT = 900, 320


def draw(runs: list, server_runs: list[dict], first: date, last: date) -> dict[str, str]:
    """{name: SVG text}: ``size``, ``duration`` and ``outcomes`` for the period's runs."""
    return {
        "size": _line(
            "Backup size (MiB)", [(r.time, r.size / 2**20) for r in runs if r.status == "archived" and r.size]
        ),
        "duration": _line(
            "Run duration (seconds)",
            [(r.time, r.duration_seconds) for r in runs if r.duration_seconds is not None],
        ),
        "outcomes": _outcomes(outcome_times(runs, server_runs), first, last),
    }


def outcome_times(runs: list, server_runs: list[dict]) -> list[tuple[str, str]]:
    """(time, outcome) of every run: S3's runs, and the crashed or cancelled ones only the server saw."""
    found = [(r.time, "anomalous" if r.anomalies else r.status) for r in runs]
    found += [(r["time"], r["outcome"]) for r in server_runs if r["outcome"] in ("crashed", "cancelled")]
    return sorted(found)


def _style():
    from pygal.style import Style

    return Style(
        background="white",
        plot_background="white",
        font_family="sans-serif",
        colors=tuple(OUTCOME_COLOURS.values()),
        title_font_size=16,
        label_font_size=11,
        major_label_font_size=11,
    )


def _line(title: str, points: list[tuple[str, float]]) -> str:
    import pygal

    chart = pygal.DateTimeLine(
        title=title,
        width=_WIDTH,
        height=_HEIGHT,
        js=[],
        style=_style(),
        show_legend=False,
        disable_xml_declaration=True,
        x_label_rotation=30,
        x_value_formatter=lambda moment: moment.strftime("%Y-%m-%d"),
        no_data_text="no run in the period",
    )
    chart.add(title, [(_moment(at), round(value, 3)) for at, value in points], show_dots=len(points) < 60)
    return _inert(chart.render())


def _outcomes(times: list[tuple[str, str]], first: date, last: date) -> str:
    import pygal

    span = (last - first).days + 1
    unit = "day" if span <= 92 else "week" if span <= 731 else "month"
    buckets = _buckets(first, last, unit)
    counts = {outcome: Counter() for outcome in OUTCOME_COLOURS}
    for at, outcome in times:
        counts.setdefault(outcome, Counter())[_bucket(_moment(at).date(), unit)] += 1
    chart = pygal.StackedBar(
        title=f"Runs per {unit}, by outcome",
        width=_WIDTH,
        height=_HEIGHT,
        js=[],
        style=_style(),
        disable_xml_declaration=True,
        legend_at_bottom=True,
        x_label_rotation=30,
        show_minor_x_labels=False,
        no_data_text="no run in the period",
    )
    chart.x_labels = [b.isoformat() for b in buckets]
    chart.x_labels_major = chart.x_labels[:: max(1, len(buckets) // 12)]
    for outcome in OUTCOME_COLOURS:
        chart.add(outcome, [counts[outcome][b] or None for b in buckets])
    return _inert(chart.render())


def _inert(svg: str) -> str:
    """The SVG without pygal's inline configuration script and its comments (links to pygal's site):
    a report that runs nothing and names no address but the SVG namespace."""
    svg = re.sub(r"<script\b.*?</script>", "", svg, flags=re.S)
    return re.sub(r"<!--.*?-->", "", svg, flags=re.S)


def _buckets(first: date, last: date, unit: str) -> list[date]:
    found, day = [], _bucket(first, unit)
    while day <= last:
        found.append(day)
        day = (
            _bucket(day + timedelta(days=32), unit)
            if unit == "month"
            else day + timedelta(days=7 if unit == "week" else 1)
        )
    return found


def _bucket(day: date, unit: str) -> date:
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    return day


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
