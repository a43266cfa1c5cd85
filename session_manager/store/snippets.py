"""The piece of a search hit's text shown under it, with the words found marked.

Made here from the row's stored text rather than by SQLite's snippet(): for a word searched as a
prefix, snippet() re-runs the search over the whole table for every row, so a page of 100 rows
would cost as much as the store is large.
"""

from __future__ import annotations

import bisect
import re
import unicodedata

from .summaries import HIT_END, HIT_START

_WORD = re.compile(r"\w+", re.UNICODE)


def snippet(columns: tuple[str, ...], words: list[str], size: int) -> str:
    """``size`` words around the first place where a searched word starts a word, hits marked; the first
    column (in search's order: name, tags, notes, text, marks) that holds one is used."""
    wanted = [fold(word) for word in words if word]
    for text in columns:
        tokens = list(_WORD.finditer(text or ""))
        first = _first_hit(text or "", tokens, wanted)
        if first is None:
            continue
        start = max(0, min(first - size // 4, len(tokens) - size))
        shown = tokens[start:start + size]
        parts = [f"{HIT_START}{token.group()}{HIT_END}" if _starts(token.group(), wanted) else token.group()
                 for token in shown]
        lead = "…" if start > 0 else ""
        tail = "…" if start + size < len(tokens) else ""
        return lead + " ".join(parts) + tail
    return ""


def _first_hit(text: str, tokens: list[re.Match[str]], wanted: list[str]) -> int | None:
    """The index of the first token a searched word starts. ASCII text is searched by one regular expression
    (folding every word of a long text one by one would cost more than the whole page of rows)."""
    if text.isascii() and all(word.isascii() for word in wanted):
        found = re.search(r"(?<!\w)(?:" + "|".join(map(re.escape, wanted)) + ")", text, re.IGNORECASE)
        if found is None:
            return None
        return bisect.bisect_right([token.start() for token in tokens], found.start()) - 1
    return next((i for i, token in enumerate(tokens) if _starts(token.group(), wanted)), None)


def _starts(token: str, wanted: list[str]) -> bool:
    folded = fold(token)
    return any(folded.startswith(word) for word in wanted)


def fold(text: str) -> str:
    """Case and accents away, as the index's tokenizer does (remove_diacritics)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
