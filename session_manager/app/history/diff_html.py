"""A diff drawn as HTML: inline (one text, removals struck out, additions marked) or side by side.

Long unchanged stretches fold into "… 1,234 unchanged words …" with a few words of context on
each side, so a 20,000-word story with three edits reads as three short passages.
"""

from __future__ import annotations

import re
from typing import Literal

from .diff import Change, Hunk, Piece, StateDiff
from .drawing import attr, count

Layout = Literal["inline", "side by side"]
CONTEXT_WORDS = 24  # shown around a change
FOLD_ABOVE = 2 * CONTEXT_WORDS + 12  # unchanged stretches longer than this are folded
_WORD = re.compile(r"\S+\s*|\s+")


def render_diff(diff: StateDiff, old_name: str, new_name: str, layout: Layout = "inline") -> str:
    head = (f'<div class="sm-diff-head"><span class="sm-diff-old">−&nbsp;{attr(old_name)}</span>'
            f'<span class="sm-diff-new">+&nbsp;{attr(new_name)}</span>'
            f'<span class="sm-diff-count">{count(diff.words("insert"))} words added, '
            f'{count(diff.words("delete"))} removed</span></div>')
    tables = _changes("Parameters", diff.params) + _changes("Model and loader", diff.model)
    if diff.same_text:
        body = '<div class="sm-empty">The text is the same in both.</div>'
    elif layout == "side by side":
        body = _side_by_side(diff.hunks)
    else:
        body = _inline(diff.hunks)
    return f'<div class="sm-diff">{head}{tables}{body}</div>'


# ----- helpers ------------------------------------------------------------------------------

def _inline(hunks: list[Hunk]) -> str:
    parts = []
    for index, hunk in enumerate(hunks):
        if hunk.changed:
            parts.append(_pieces(list(hunk.pieces)))
        else:
            parts.append(_folded(hunk.pieces[0].text, index > 0, index < len(hunks) - 1))
    return f'<div class="sm-diff-text">{"".join(parts)}</div>'


def _side_by_side(hunks: list[Hunk]) -> str:
    rows = []
    for index, hunk in enumerate(hunks):
        if hunk.changed:
            left, right = _pieces(hunk.side("old")), _pieces(hunk.side("new"))
            rows.append(f'<tr class="sm-diff-changed"><td>{left}</td><td>{right}</td></tr>')
        else:
            text = _folded(hunk.pieces[0].text, index > 0, index < len(hunks) - 1)
            rows.append(f'<tr><td>{text}</td><td>{text}</td></tr>')
    return ('<table class="sm-diff-sides"><colgroup><col><col></colgroup><tbody>'
            f'{"".join(rows)}</tbody></table>')


def _pieces(pieces: list[Piece]) -> str:
    tags = {"insert": "ins", "delete": "del"}
    return "".join(f"<{tags[p.op]}>{attr(p.text)}</{tags[p.op]}>" if p.op in tags else attr(p.text)
                   for p in pieces)


def _folded(text: str, after_change: bool, before_change: bool) -> str:
    """An unchanged stretch: whole when short, else only the words next to the changes around it."""
    words = _WORD.findall(text)
    if len(words) <= FOLD_ABOVE:
        return attr(text)
    start = CONTEXT_WORDS if after_change else 0
    end = len(words) - CONTEXT_WORDS if before_change else len(words)
    skipped = sum(1 for word in words[start:end] if word.strip())
    return (f'{attr("".join(words[:start]))}<span class="sm-diff-fold">… {count(skipped)} unchanged words …</span>'
            f'{attr("".join(words[end:]))}')


def _changes(title: str, changes: list[Change]) -> str:
    if not changes:
        return ""
    rows = "".join(f"<tr><td>{attr(c.name)}</td><td><del>{attr(c.old)}</del></td><td><ins>{attr(c.new)}</ins>"
                   f"</td></tr>" for c in changes)
    return (f'<table class="sm-diff-params"><caption>{attr(title)} changed</caption>'
            f'<tr><th>name</th><th>before</th><th>after</th></tr>{rows}</table>')
