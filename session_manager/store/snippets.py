"""The piece of a search hit's text shown under it, with the words found marked.

Made here from the row's stored text rather than by SQLite's snippet(): for a word searched as a
prefix, snippet() re-runs the search over the whole table for every row, so a page of 100 rows
would cost as much as the store is large.
"""

from __future__ import annotations

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
        hits = [i for i, token in enumerate(tokens) if any(fold(token.group()).startswith(w) for w in wanted)]
        if not hits:
            continue
        start = max(0, min(hits[0] - size // 4, len(tokens) - size))
        shown = tokens[start:start + size]
        parts = []
        for offset, token in enumerate(shown):
            found = start + offset in hits
            parts.append(f"{HIT_START}{token.group()}{HIT_END}" if found else token.group())
        lead = "…" if start > 0 else ""
        tail = "…" if start + size < len(tokens) else ""
        return lead + " ".join(parts) + tail
    return ""


def fold(text: str) -> str:
    """Case and accents away, as the index's tokenizer does (remove_diacritics)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
