"""The piece of text shown under a search hit: the words marked are exactly those a searched word starts,
in ASCII text (searched by one regular expression) and in any other (folded word by word) alike."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from session_manager.store import snippets
from session_manager.store.snippets import fold, snippet
from session_manager.store.summaries import HIT_END, HIT_START

VOCABULARY = ["light", "Lighthouse", "LIGHT", "flight", "keeper", "_light", "9light", "café", "Ünder", "under",
              "naïve", "ß", "strasse", "İstanbul", "x1", "the"]
SEPARATORS = [" ", ". ", ", ", "-", "\n", "  ", "’ ", " — ", "“"]
MARKED = re.compile(re.escape(HIT_START) + r"(\w+)" + re.escape(HIT_END))

texts = st.lists(st.tuples(st.sampled_from(VOCABULARY), st.sampled_from(SEPARATORS)), max_size=80).map(
    lambda pairs: "".join(word + sep for word, sep in pairs))


@settings(max_examples=300, deadline=None)
@given(columns=st.lists(texts, min_size=1, max_size=3),
       words=st.lists(st.sampled_from(["light", "under", "strasse", "ss", "cafe", "istanbul", "x", "_l", "9"]),
                      min_size=1, max_size=2))
def test_the_words_marked_are_the_ones_a_searched_word_starts(columns: list[str], words: list[str]) -> None:
    shown = snippet(tuple(columns), words, 16)
    starts = [fold(word) for word in words]
    holding = [text for text in columns if any(fold(t).startswith(tuple(starts)) for t in re.findall(r"\w+", text))]
    if not holding:
        assert shown == ""
        return
    marked = MARKED.findall(shown)
    assert marked, f"{shown!r} marks nothing although {holding[0]!r} holds a hit"
    assert all(fold(token).startswith(tuple(starts)) for token in marked)
    unmarked = re.findall(r"\w+", MARKED.sub(" ", shown.replace("…", " ")))
    assert not [t for t in unmarked if fold(t).startswith(tuple(starts))], shown


def test_a_hit_deep_in_a_long_text_is_shown_with_the_words_around_it() -> None:
    text = " ".join(["filler"] * 5000 + ["the", "Lighthouse", "keeper", "wrote"] + ["filler"] * 50)
    shown = snippet(("a name", text), ["lighthouse"], 8)
    assert f"{HIT_START}Lighthouse{HIT_END}" in shown and "keeper" in shown
    assert shown.startswith("…") and shown.endswith("…")


def _whole_text_snippet(columns: tuple[str, ...], words: list[str], size: int) -> str:
    """What a snippet is, said the plain way: every word of the text listed, the window cut from that list."""
    wanted = [fold(word) for word in words if word]
    for text in columns:
        tokens = list(re.finditer(r"\w+", text))
        first = next((i for i, t in enumerate(tokens) if fold(t.group()).startswith(tuple(wanted))), None)
        if first is None:
            continue
        start = max(0, min(first - size // 4, len(tokens) - size))
        shown = tokens[start:start + size]
        parts = [f"{HIT_START}{t.group()}{HIT_END}" if fold(t.group()).startswith(tuple(wanted)) else t.group()
                 for t in shown]
        return ("…" if start > 0 else "") + " ".join(parts) + ("…" if start + size < len(tokens) else "")
    return ""


long_words = st.text(alphabet="abcdéxyz", min_size=1, max_size=300)
long_texts = st.lists(st.tuples(st.one_of(st.sampled_from(VOCABULARY), long_words), st.sampled_from(SEPARATORS)),
                      max_size=200).map(lambda pairs: "".join(word + sep for word, sep in pairs))


@settings(max_examples=300, deadline=None)
@given(columns=st.lists(st.one_of(texts, long_texts), min_size=1, max_size=3),
       words=st.lists(st.sampled_from(["light", "under", "strasse", "cafe", "x", "keeper", "the"]), min_size=1,
                      max_size=2),
       size=st.integers(min_value=1, max_value=24))
def test_only_the_words_around_the_hit_are_read_and_the_snippet_is_the_same(columns: list[str], words: list[str],
                                                                            size: int) -> None:
    expected = _whole_text_snippet(tuple(columns), words, size)
    assert snippet(tuple(columns), words, size) == expected
    reach = snippets.LOOK_BACK_CHARS
    snippets.LOOK_BACK_CHARS = 3  # the words before a hit found by reading further back, step by step
    try:
        assert snippet(tuple(columns), words, size) == expected
    finally:
        snippets.LOOK_BACK_CHARS = reach
