"""The piece of text shown under a search hit: the words marked are exactly those a searched word starts,
in ASCII text (searched by one regular expression) and in any other (folded word by word) alike."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from session_manager.store.snippets import fold, snippet
from session_manager.store.summaries import HIT_END, HIT_START

VOCABULARY = ["light", "Lighthouse", "LIGHT", "flight", "keeper", "_light", "9light", "café", "Ünder", "under",
              "naïve", "ß", "strasse", "İstanbul", "x1", "the"]
SEPARATORS = [" ", ". ", ", ", "-", "\n", "  "]
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
