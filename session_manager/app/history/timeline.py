"""The timeline of a session: every checkpoint and autosave in time order, drawn by the page.

The overview is one SVG of the whole session: how the text grew (words or tokens), each
checkpoint coloured by its trigger, ringed when its KV snapshot is kept, pinned ones and branch
points marked, autosaves on a lane below. A click anywhere on it selects the nearest point. Below
it, the points around the selection are listed with their labels, notes and branches.

Everything comes from the index (checkpoint_summaries) and the folder listing: no checkpoint
file is read, so a session of 2,000 checkpoints draws in milliseconds (bench/timeline_scale.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ...store import SessionStore
from ...store.summaries import BranchLink, CheckpointSummary
from ...timefmt import short
from ..history_entries import AUTOSAVE_CHOICE, Kind, page_history
from .drawing import SESSION_PICK, attr, color, count, empty, legend, num, pick

WIDTH, HEIGHT = 1000, 170
LEFT, RIGHT, TOP = 68, 14, 16
LANE = HEIGHT - 24  # autosaves are drawn on this line, under the axis
TITLES_UP_TO = 400  # points with their own tooltip; above, the list below names them
DETAIL_ROWS = 12


@dataclass(frozen=True)
class Point:
    """One point of the timeline (an autosave knows no size: its file is not read)."""

    choice: str  # the picker value that names it
    id: str
    created: datetime
    kind: Kind
    trigger: str = "autosave"
    label: str = ""
    words: int = 0
    tokens: int | None = None
    kv: str = ""  # "kept", "removed" (by the budget) or "" (none)
    kv_tokens: int | None = None
    pinned: bool = False
    note: str = ""
    model: str | None = None
    branches: list[BranchLink] = field(default_factory=list)  # sessions branched from this checkpoint

    @property
    def size(self) -> int:
        return self.tokens if self.tokens is not None else self.words

    def describe(self) -> str:
        parts = [short(self.created), self.trigger]
        if self.label:
            parts.append(f"“{self.label}”")
        if self.kind == "checkpoint":
            parts.append(f"{count(self.words)} words" + (f", {count(self.tokens)} tokens" if self.tokens else ""))
        if self.kv:
            parts.append(f"KV {count(self.kv_tokens or 0)} tok" if self.kv == "kept" else "KV removed")
        if self.pinned:
            parts.append("pinned")
        return " · ".join(parts)


def timeline_points(store: SessionStore, session_id: str) -> list[Point]:
    """The session's history as points, oldest first, with the branches that grew from each checkpoint."""
    summaries = {s.id: s for s in store.checkpoint_summaries(session_id)}
    branches: dict[str, list[BranchLink]] = {}
    for link in store.branch_links():
        if link.parent_session == session_id and link.parent_checkpoint:
            branches.setdefault(link.parent_checkpoint, []).append(link)
    newest_autosave = store.read_autosave(session_id)
    newest_id = newest_autosave.id if newest_autosave is not None and newest_autosave.restores is None else None
    points = []
    for entry in page_history(store, session_id):
        if entry.kind == "autosave":
            choice = AUTOSAVE_CHOICE if entry.id == newest_id else entry.choice
            points.append(Point(choice, entry.id, entry.created, "autosave"))
        elif entry.id in summaries:
            points.append(_checkpoint_point(summaries[entry.id], branches.get(entry.id, [])))
    return points


def render_timeline(points: list[Point], selected: str | None = None, here: str | None = None) -> str:
    """The overview and the list around ``selected`` (a picker value); ``here``: what the page shows."""
    if not points:
        return empty("No checkpoints yet: the timeline starts with the first save.")
    index = _index_of(points, selected)
    checkpoints = [p for p in points if p.kind == "checkpoint"]
    kept = sum(1 for p in checkpoints if p.kv == "kept")
    n_branches = sum(len(p.branches) for p in points)
    summary = (f"{count(len(checkpoints))} checkpoints, {count(len(points) - len(checkpoints))} autosaves"
               + (f", {count(n_branches)} branches" if n_branches else "")
               + (f"; KV snapshots kept for {count(kept)}" if kept else ""))
    return (f'<div class="sm-timeline"><div class="sm-tl-head">{attr(summary)}</div>'
            f'{overview_svg(points, index, _index_of(points, here) if here else None)}'
            f'{legend([p.trigger for p in points])}{_rows(points, index, here)}</div>')


def overview_svg(points: list[Point], selected: int | None, here: int | None) -> str:
    n = len(points)
    step = (WIDTH - LEFT - RIGHT) / max(n - 1, 1)
    tokens = all(p.tokens is not None for p in points if p.kind == "checkpoint")
    top = max([p.size for p in points if p.kind == "checkpoint"] + [1])
    radius = 4.0 if n <= 150 else 2.6 if n <= 700 else 1.7
    titled = n <= TITLES_UP_TO

    def x(i: int) -> float:
        return LEFT + i * step if n > 1 else (LEFT + WIDTH - RIGHT) / 2

    def y(size: int) -> float:
        return TOP + (1 - size / top) * (LANE - 22 - TOP)

    autosaves = any(p.kind == "autosave" for p in points)
    parts = [_axes(top, "tokens" if tokens else "words", y, autosaves)]
    line = [f"{num(x(i))},{num(y(p.size))}" for i, p in enumerate(points) if p.kind == "checkpoint"]
    if len(line) > 1:
        parts.append(f'<polyline class="sm-tl-growth" points="{" ".join(line)}"/>')
    if selected is not None:
        parts.append(f'<line class="sm-tl-cursor" x1="{num(x(selected))}" x2="{num(x(selected))}" y1="{TOP - 6}" '
                     f'y2="{LANE + 6}"/>')
    for i, p in enumerate(points):
        parts.append(_mark(p, x(i), y(p.size), radius, titled))
    if selected is not None:
        p = points[selected]
        cy = LANE if p.kind == "autosave" else y(p.size)
        parts.append(f'<circle class="sm-tl-selected" cx="{num(x(selected))}" cy="{num(cy)}" r="{num(radius + 4)}"/>')
    if here is not None:
        parts.append(f'<path class="sm-tl-here" d="M{num(x(here) - 5)},{TOP - 12}h10l-5,7z"><title>the page shows '
                     f'this state</title></path>')
    parts.append(_dates(points, x))
    choices = ",".join(p.choice for p in points)
    return (f'<svg class="sm-tl-overview" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            f'aria-label="timeline of {n} points" data-sm-choices="{choices}" data-sm-left="{LEFT}" '
            f'data-sm-step="{num(step)}" data-sm-width="{WIDTH}">{"".join(parts)}</svg>')


# ----- helpers ------------------------------------------------------------------------------

def _checkpoint_point(summary: CheckpointSummary, branches: list[BranchLink]) -> Point:
    kv = "kept" if summary.kv_present else "removed" if summary.kv else ""
    return Point(summary.id, summary.id, summary.created, "checkpoint", summary.trigger, summary.label,
                 summary.words, summary.tokens, kv, summary.kv_tokens, summary.pinned, summary.note,
                 summary.model, branches)


def _index_of(points: list[Point], choice: str | None) -> int | None:
    if not choice:
        return None
    return next((i for i, p in enumerate(points) if choice in (p.choice, p.id)), None)


def _mark(p: Point, cx: float, cy: float, r: float, titled: bool) -> str:
    title = f"<title>{attr(p.describe())}</title>" if titled else ""
    if p.kind == "autosave":
        return (f'<rect class="sm-tl-autosave" x="{num(cx - r / 2)}" y="{LANE - r}" width="{num(max(r, 1.2))}" '
                f'height="{num(2 * r)}">{title}</rect>')
    ring = ' class="sm-tl-kv"' if p.kv == "kept" else ""
    extra = ""
    if p.pinned:
        extra += f'<path class="sm-tl-pin" d="M{num(cx)},{num(cy - r - 9)}l3,5h-6z"/>'
    if p.branches:
        extra += f'<line class="sm-tl-branch" x1="{num(cx)}" x2="{num(cx + 8)}" y1="{num(cy)}" y2="{num(cy + 12)}"/>'
    return f'<circle{ring} cx="{num(cx)}" cy="{num(cy)}" r="{num(r)}" fill="{color(p.trigger)}">{title}</circle>{extra}'


def _axes(top: int, unit: str, y: Callable[[int], float], autosaves: bool) -> str:
    base, high = y(0), y(top)
    lane = f'<text class="sm-tl-label" x="{LEFT - 6}" y="{LANE + 4}" text-anchor="end">autosaves</text>'
    return (f'<line class="sm-tl-axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{num(base)}" y2="{num(base)}"/>'
            f'<line class="sm-tl-grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{num(high)}" y2="{num(high)}"/>'
            f'<text class="sm-tl-label" x="{LEFT - 6}" y="{num(high + 4)}" text-anchor="end">{count(top)}</text>'
            f'<text class="sm-tl-label" x="{LEFT - 6}" y="{num(base + 4)}" text-anchor="end">0 {unit}</text>'
            + (lane if autosaves else ""))


def _dates(points: list[Point], x: Callable[[int], float]) -> str:
    n = len(points)
    marks = sorted({0, n - 1} | {round(k * (n - 1) / 4) for k in range(1, 4)}) if n > 1 else [0]
    return "".join(f'<text class="sm-tl-label" x="{num(x(i))}" y="{HEIGHT - 4}" '
                   f'text-anchor="{"start" if i == 0 else "end" if i == n - 1 else "middle"}">'
                   f'{attr(short(points[i].created))}</text>' for i in marks)


def _rows(points: list[Point], selected: int | None, here: str | None) -> str:
    center = selected if selected is not None else len(points) - 1
    start = max(0, min(center - DETAIL_ROWS // 2, len(points) - DETAIL_ROWS))
    shown = points[start:start + DETAIL_ROWS]
    rows = []
    for offset, p in reversed(list(enumerate(shown))):
        classes = "sm-tl-row" + (" sm-tl-row-selected" if start + offset == selected else "")
        rows.append(f'<div class="{classes}"{pick(p.choice)}>{_row_cells(p, here)}</div>')
    more = (f'<div class="sm-tl-more">{count(start)} older and {count(len(points) - start - len(shown))} newer '
            f'points: click the timeline above to see them here.</div>') if len(shown) < len(points) else ""
    return f'<div class="sm-tl-rows">{"".join(rows)}</div>{more}'


def _row_cells(p: Point, here: str | None) -> str:
    cells = [f'<i class="sm-dot" style="background:{color(p.trigger)}"></i>',
             f'<span class="sm-tl-time">{attr(short(p.created))}</span>',
             f'<span class="sm-tl-trigger">{attr(p.trigger)}</span>']
    if p.label:
        cells.append(f'<span class="sm-tl-name">“{attr(p.label)}”</span>')
    if p.kind == "checkpoint":
        size = f"{count(p.words)} words" + (f" · {count(p.tokens)} tok" if p.tokens is not None else "")
        cells.append(f'<span class="sm-tl-size">{size}</span>')
    if p.kv:
        kv = f"KV {count(p.kv_tokens or 0)} tok" if p.kv == "kept" else "KV removed"
        cells.append(f'<span class="sm-tl-kvinfo">{kv}</span>')
    if p.pinned:
        cells.append('<span class="sm-tl-pinned">pinned</span>')
    if p.note:
        note = p.note if len(p.note) <= 80 else p.note[:79] + "…"
        cells.append(f'<span class="sm-tl-note" title="{attr(p.note)}">{attr(note)}</span>')
    for branch in p.branches:
        cells.append(f'<span class="sm-tl-branchlink"{pick(SESSION_PICK + branch.session_id)} '
                     f'title="open this branch">↳ branch: {attr(branch.name)}</span>')
    if here and here in (p.choice, p.id):
        cells.append('<span class="sm-tl-herenote">◀ the page shows this</span>')
    return "".join(cells)
