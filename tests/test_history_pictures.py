"""The history's pictures and tables as people read them: diff, timeline, tree, stats, runs side by side."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, timedelta
from html import unescape

from factories import typed

from session_manager.app.history.compare import load_runs, render_runs, run_ref
from session_manager.app.history.diff import diff_states, diff_text
from session_manager.app.history.diff_html import render_diff
from session_manager.app.history.stats import session_stats, store_stats
from session_manager.app.history.stats_html import activity_chart, render_stats
from session_manager.app.history.timeline import render_timeline, timeline_points
from session_manager.app.history.tree import family_tree, render_tree
from session_manager.app.workspace import Workspace
from session_manager.models import Checkpoint, GenerationStats, ModelInfo, new_checkpoint_id, utcnow
from session_manager.store import SessionStore


def state(text: str, **fields: object) -> Checkpoint:
    return Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text=text, **fields)


def visible_text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", html))


# ----- diff ---------------------------------------------------------------------------------

def test_a_word_diff_marks_what_was_added_and_removed() -> None:
    hunks = diff_text("The big old dog ran home. It was late.", "The small dog ran home fast. It was late.")
    changed = [(p.op, p.text) for h in hunks for p in h.pieces if p.op != "equal"]
    assert changed == [("delete", "big old"), ("insert", "small"), ("insert", " fast")]
    rebuilt_old = "".join(p.text for h in hunks for p in h.side("old"))
    rebuilt_new = "".join(p.text for h in hunks for p in h.side("new"))
    assert (rebuilt_old, rebuilt_new) == ("The big old dog ran home. It was late.",
                                          "The small dog ran home fast. It was late.")


def test_parameters_model_and_loader_changes_are_listed_old_to_new() -> None:
    old = state("x", params={"temperature": 0.7, "top_p": 0.9, "seed": 1},
                model=ModelInfo(name="a.gguf", loader="llama.cpp", settings={"ctx_size": 2048}))
    new = state("x", params={"temperature": 1.1, "top_p": 0.9, "top_k": 40},
                model=ModelInfo(name="b.gguf", loader="llama.cpp", settings={"ctx_size": 4096}))
    diff = diff_states(old, new)
    assert [(c.name, c.old, c.new) for c in diff.params] == [("seed", "1", "—"), ("temperature", "0.7", "1.1"),
                                                             ("top_k", "—", "40")]
    assert [(c.name, c.old, c.new) for c in diff.model] == [("model", "a.gguf", "b.gguf"),
                                                            ("loader setting ctx_size", "2048", "4096")]
    assert diff.same_text and "3 parameter(s) changed" in diff.summary()


def test_a_long_text_with_a_few_edits_folds_what_did_not_change() -> None:
    sentences = [f"Sentence number {i} tells of the sea and the {i % 7} gulls." for i in range(2000)]
    old = " ".join(sentences)  # 22,000 words
    edited = list(sentences)
    edited[500] = "A whale surfaced here, which nobody expected."
    edited[1500] = edited[1500].replace("gulls", "herons")
    diff = diff_states(state(old), state(" ".join(edited)))
    assert (diff.words("insert"), diff.words("delete")) == (8, 12)
    for layout in ("inline", "side by side"):
        html = render_diff(diff, "before", "after", layout)  # type: ignore[arg-type]
        assert len(html) < 20_000, len(html)
        text = visible_text(html)
        assert "A whale surfaced here" in text and "herons" in text
        assert len(re.findall(r"… [\d,]+ unchanged words …", text)) == (3 if layout == "inline" else 6)
        assert "<ins>herons</ins>" in html and "<del>gulls</del>" in html


def test_a_diff_escapes_the_text() -> None:
    html = render_diff(diff_states(state("<b>old</b>"), state("<script>alert(1)</script>")), "a", "b")
    assert "<script" not in html and "<b>" not in html and html.count("&lt;") == 2


# ----- timeline and tree ----------------------------------------------------------------------

def test_the_timeline_draws_every_point_and_marks_the_selection(workspace: Workspace) -> None:
    page = typed(workspace.page("a", "text"), "one")
    first = workspace.recorder.checkpoint(page, label="opening")
    typed(page, "one two")
    workspace.recorder.autosave(page)
    typed(page, "one two three")
    last = workspace.recorder.checkpoint(page)
    workspace.store.set_mark(page.session_id, first.id, pinned=True, note="keep this one")
    points = timeline_points(workspace.store, page.session_id)
    assert [(p.kind, p.words) for p in points] == [("checkpoint", 1), ("autosave", 0), ("checkpoint", 3)]
    assert points[1].choice == "autosave"  # the newest autosave has the picker's name for it
    html = render_timeline(points, selected=first.id, here=last.id)
    assert html.count("<circle") >= 2 and 'class="sm-tl-pin"' in html
    assert re.search(r'class="sm-tl-row sm-tl-row-selected" data-sm-pick="' + first.id, html)
    assert f'data-sm-choices="{first.id},autosave,{last.id}"' in html
    text = visible_text(html)
    assert "keep this one" in text and "“opening”" in text and "the page shows this" in text


def test_a_long_timeline_draws_each_point_without_its_own_tooltip(store: SessionStore) -> None:
    meta = store.create_session("long")
    for i in range(500):
        store.add_checkpoint(meta.id, state("word " * (i % 50)))
    html = render_timeline(timeline_points(store, meta.id))
    assert html.count("<circle") == 500 and "<title>" not in html  # the list below the picture names them
    assert len(html) < 100_000, len(html)
    assert len(re.findall(r'class="sm-tl-row[ "]', html)) == 12


def test_the_tree_shows_branches_and_their_branches(store: SessionStore) -> None:
    root = store.create_session("Lily")
    cp = store.add_checkpoint(root.id, state("start"))
    north, copied = store.branch(root.id, cp.id, "Lily goes north")
    west, _ = store.branch(north.id, copied.id, "then west")
    store.branch(root.id, cp.id, "Lily stays")
    tree = family_tree(store, west.id)
    assert tree is not None and tree.session_id == root.id
    assert [c.name for c in tree.children] == ["Lily goes north", "Lily stays"]
    assert [c.name for c in tree.children[0].children] == ["then west"]
    html = render_tree(tree, west.id)
    assert html.count('class="sm-tree-node') == 4 and f'data-sm-pick="session:{west.id}"' in html
    assert "then west · 1 checkpoints" in visible_text(html) and "(this session)" in visible_text(html)
    assert "No branches yet" in render_tree(family_tree(store, store.create_session("alone").id), None)


# ----- stats --------------------------------------------------------------------------------

def test_stats_count_per_session_and_for_the_store(store: SessionStore) -> None:
    one = store.create_session("one")
    store.add_checkpoint(one.id, state("a b c", model=ModelInfo(name="a.gguf"),
                                       generation=GenerationStats(new_tokens=30, seconds=2.0)))
    store.add_checkpoint(one.id, state("a b c d e", model=ModelInfo(name="b.gguf"),
                                       generation=GenerationStats(new_tokens=10, seconds=0.5)))
    store.write_autosave(one.id, state("typing"))
    two = store.create_session("two")
    store.add_checkpoint(two.id, state("x y", model=ModelInfo(name="a.gguf")))
    mine = session_stats(store, one.id)
    assert (mine.checkpoints, mine.autosaves, mine.tokens_generated, mine.words) == (2, 1, 40, 5)
    assert mine.seconds_generating == 2.5 and mine.models == Counter({"a.gguf": 1, "b.gguf": 1})
    assert mine.text_bytes > 0 and mine.kv_bytes == 0
    everything = store_stats(store)
    assert (everything.sessions, everything.checkpoints, everything.words) == (2, 3, 7)
    assert everything.models["a.gguf"] == 2 and everything.days[date.today()] == 3
    html = render_stats(everything, "All sessions")
    assert "Tokens generated" in html and "16.0 tokens/s" in html and "<svg" in html


def test_the_activity_chart_has_a_bar_a_day() -> None:
    today = date(2026, 5, 20)
    days = Counter({today: 4, today - timedelta(days=2): 2, today - timedelta(days=40): 9})
    svg = activity_chart(days, today)
    bars = re.findall(r'<rect class="sm-chart-bar"[^>]*height="([\d.]+)"><title>([\d-]+): (\d+)', svg)
    assert len(bars) == 30 and bars[-1][1:] == ("2026-05-20", "4") and bars[-3][1:] == ("2026-05-18", "2")
    assert float(bars[-1][0]) == 2 * float(bars[-3][0])


# ----- runs side by side ---------------------------------------------------------------------

def test_runs_from_two_sessions_side_by_side(store: SessionStore) -> None:
    prompt = "The keeper lit the lamp and "
    a, b = store.create_session("cold"), store.create_session("hot")
    run_a = store.add_checkpoint(a.id, state(prompt + "went to sleep.", params={"temperature": 0.2, "top_p": 0.9}))
    run_b = store.add_checkpoint(b.id, state(prompt + "danced on the rocks.", params={"temperature": 1.4,
                                                                                      "top_p": 0.9}))
    runs, gone = load_runs(store, [run_ref(a.id, run_a.id), run_ref(b.id, run_b.id), run_ref(b.id, "nope")])
    assert [r.session_name for r in runs] == ["cold", "hot"] and len(gone) == 1
    html = render_runs(runs)
    text = visible_text(html)
    assert "went to sleep." in text and "danced on the rocks." in text
    assert text.count("The keeper lit the lamp") == 1  # the shared start, once
    assert re.search(r'class="sm-cmp-differs"><th>temperature</th><td>0.2</td><td>1.4</td>', html)
    assert "1 parameters are the same" in text and "top_p = 0.9" in text
