"""Stats drawn for people: a table of counts and a small chart of activity over time (SVG)."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from ...units import human_bytes
from .drawing import attr, count, num
from .stats import Stats

WIDTH, HEIGHT = 600, 110
LEFT, RIGHT, TOP, BOTTOM = 34, 8, 10, 20
SPAN_DAYS = 30


def render_stats(stats: Stats, title: str, today: date | None = None) -> str:
    rows = [("Checkpoints", f"{count(stats.checkpoints)} (+ {count(stats.autosaves)} autosaves kept)"),
            ("Tokens generated", count(stats.tokens_generated)),
            ("Time spent generating", _duration(stats.seconds_generating)
             + (f" ({stats.tokens_per_second:.1f} tokens/s)" if stats.tokens_per_second else "")),
            ("Words written", count(stats.words)),
            ("Models used", ", ".join(f"{name} ({count(n)})" for name, n in stats.models.most_common(6))
             or "none recorded"),
            ("Disk used by text", human_bytes(stats.text_bytes)),
            ("Disk used by KV snapshots", f"{human_bytes(stats.kv_bytes)} ({count(stats.kv_snapshots)} snapshots; "
                                          f"pinned checkpoints: {count(stats.pinned)})"),
            ("Active", f"{stats.first} to {stats.last}" if stats.first else "not yet")]
    if stats.sessions != 1:
        rows.insert(0, ("Sessions", count(stats.sessions)))
    table = "".join(f"<tr><th>{attr(name)}</th><td>{attr(value)}</td></tr>" for name, value in rows)
    end = today or date.today()
    if stats.last is not None and stats.last < end - timedelta(days=SPAN_DAYS - 1):
        end = stats.last  # nothing lately: show the last month that had something
    return (f'<div class="sm-stats"><div class="sm-stats-title">{attr(title)}</div>'
            f'<table class="sm-stats-table">{table}</table>{activity_chart(stats.days, end)}</div>')


def activity_chart(days: Counter[date], end: date, span: int = SPAN_DAYS) -> str:
    """Checkpoints made per day over ``span`` days up to ``end``: one bar a day."""
    dates = [end - timedelta(days=span - 1 - i) for i in range(span)]
    top = max([days.get(d, 0) for d in dates] + [1])
    slot = (WIDTH - LEFT - RIGHT) / span
    base = HEIGHT - BOTTOM
    bars = []
    for i, day in enumerate(dates):
        n = days.get(day, 0)
        height = (base - TOP) * n / top
        bars.append(f'<rect class="sm-chart-bar" x="{num(LEFT + i * slot + 1)}" y="{num(base - height)}" '
                    f'width="{num(max(slot - 2, 1))}" height="{num(height)}"><title>{day.isoformat()}: '
                    f'{count(n)} checkpoints</title></rect>')
    labels = "".join(f'<text class="sm-chart-label" x="{num(LEFT + i * slot + slot / 2)}" y="{HEIGHT - 6}" '
                     f'text-anchor="middle">{dates[i]:%m-%d}</text>' for i in (0, span // 2, span - 1))
    axis = (f'<line class="sm-chart-axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}"/>'
            f'<text class="sm-chart-label" x="{LEFT - 6}" y="{TOP + 8}" text-anchor="end">{count(top)}</text>'
            f'<text class="sm-chart-label" x="{LEFT - 6}" y="{base}" text-anchor="end">0</text>')
    return (f'<svg class="sm-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="checkpoints per day, '
            f'{dates[0]} to {dates[-1]}">{axis}{"".join(bars)}{labels}</svg>')


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes = seconds / 60
    return f"{minutes:.1f} min" if minutes < 90 else f"{minutes / 60:.1f} h"
