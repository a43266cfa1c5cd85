"""The piece of a search hit's text shown under it, with the words found marked.

Made here from the row's stored text rather than by SQLite's snippet(): for a word searched as a
prefix, snippet() re-runs the search over the whole table for every row, so a page of 100 rows
would cost as much as the store is large.
"""

from __future__ import annotations

import itertools
import re
import unicodedata

from .summaries import HIT_END, HIT_START

_WORD = re.compile(r"\w+", re.UNICODE)
_NON_ASCII_LETTER = re.compile(r"[^\W\x00-\x7f]", re.UNICODE)  # a word's character outside ASCII
LOOK_BACK_CHARS = 400  # the text read back from a hit for the words before it (more when they are longer)


def snippet(columns: tuple[str, ...], words: list[str], size: int) -> str:
    """``size`` words around the first place where a searched word starts a word, hits marked; the first
    column (in search's order: name, tags, notes, text, marks) that holds one is used. Only the words
    around the hit are looked at: a long story costs what a short one does."""
    wanted = [fold(word) for word in words if word]
    for text in columns:
        hit = _first_hit(text or "", wanted)
        if hit is None:
            continue
        shown = _around(text, hit, size)
        parts = [f"{HIT_START}{token.group()}{HIT_END}" if _starts(token.group(), wanted) else token.group()
                 for token in shown]
        lead = "…" if _WORD.search(text, 0, shown[0].start()) else ""
        tail = "…" if _WORD.search(text, shown[-1].end()) else ""
        return lead + " ".join(parts) + tail
    return ""


def _first_hit(text: str, wanted: list[str]) -> int | None:
    """Where the first word a searched word starts begins. Folding every word of a long text one by one
    would cost more than the whole page of rows, so ASCII words are found by one regular expression; before
    that place, only the words holding a letter outside ASCII ("Café", "Straße") can fold into a hit."""
    if not all(word.isascii() for word in wanted):
        return next((token.start() for token in _WORD.finditer(text) if _starts(token.group(), wanted)), None)
    found = re.search(r"(?<!\w)(?:" + "|".join(map(re.escape, wanted)) + ")", text, re.IGNORECASE)
    end = len(text) if found is None else found.start()
    if not text.isascii():
        checked_to = 0
        for letter in _NON_ASCII_LETTER.finditer(text, 0, end):
            if letter.start() < checked_to:
                continue  # in a word already checked
            start = letter.start()
            while start > 0 and _WORD.match(text, start - 1, start):
                start -= 1
            token = _WORD.match(text, start)
            if token is None:  # cannot be: the letter itself is a word's
                continue
            checked_to = token.end()
            if _starts(token.group(), wanted):
                return start
    return None if found is None else found.start()


def _around(text: str, hit: int, size: int) -> list[re.Match[str]]:
    """``size`` words (fewer if the text has fewer): a quarter before the word at ``hit``, the rest from it;
    more before when the text ends sooner."""
    after = list(itertools.islice(_WORD.finditer(text, hit), size))
    wanted_before = max(size // 4, size - len(after))
    before: list[re.Match[str]] = []
    reach = LOOK_BACK_CHARS
    while True:  # the words before the hit, read backwards in growing steps until there are enough
        begin = max(0, hit - reach)
        before = list(_WORD.finditer(text, begin, hit))
        if begin > 0 and before and before[0].start() == begin and _WORD.match(text[begin - 1]):
            before = before[1:]  # a word cut by the window's start
        if len(before) >= wanted_before or begin == 0:
            break
        reach *= 4
    before = before[len(before) - min(wanted_before, len(before)):]
    return before + after[:size - len(before)]


def _starts(token: str, wanted: list[str]) -> bool:
    folded = fold(token)
    return any(folded.startswith(word) for word in wanted)


def fold(text: str) -> str:
    """Case and accents away, as the index's tokenizer does (remove_diacritics)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
