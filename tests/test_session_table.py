"""The session table of the Sessions tab (issue 24, item 3): each page comes from the index in the order
asked for, filtered by the words typed, with the total; sizes on disk stay true as sessions change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from factories import make_workspace

from session_manager.app.session_table import PAGE_SIZE
from session_manager.models import Checkpoint, ModelInfo, new_checkpoint_id, utcnow
from session_manager.store import SessionStore, session_table
from session_manager.store.session_table import TableQuery

NAMES = ["pelican", "Albatross", "cormorant", "gannet", "heron", "ibis", "Kestrel", "loon", "merlin", "osprey",
         "puffin", "rail"]


def checkpoint(text: str, model: str = "tiny.gguf", mode: str = "default") -> Checkpoint:
    return Checkpoint(id=new_checkpoint_id(), created=utcnow(), mode=mode, input_text=text,
                      model=ModelInfo(name=model))


@pytest.fixture
def birds(tmp_path: Path) -> tuple[SessionStore, dict[str, str]]:
    """A store built the way a user builds one: session i has i + 1 checkpoints and a longer text."""
    workspace = make_workspace(tmp_path / "store")
    store = workspace.store
    ids = {}
    for i, name in enumerate(NAMES):
        meta = store.create_session(name)
        words = "sea " if i % 2 == 0 else "river "
        for n in range(i % 4 + 1):
            store.add_checkpoint(meta.id, checkpoint(f"The {name} flew over the {words * (i + 1)} {n}",
                                                     model=f"model-{i % 3}.gguf"))
        ids[name] = meta.id
    return store, ids


def folder_bytes(folder: Path) -> int:
    """What a person measuring the folder's files finds (du without the folders themselves)."""
    return sum(os.lstat(os.path.join(here, f)).st_size for here, _, files in os.walk(folder) for f in files
               if not f.startswith("."))


def names(rows: list) -> list[str]:
    return [row.meta.name for row in rows]


def test_pages_follow_the_chosen_order_and_count_every_session(birds: tuple[SessionStore, dict[str, str]]) -> None:
    store, ids = birds
    rows, total = store.session_table(TableQuery(limit=5))
    assert total == len(NAMES)
    assert names(rows) == NAMES[::-1][:5]  # the most recently changed first
    second, _ = store.session_table(TableQuery(limit=5, offset=5))
    last, _ = store.session_table(TableQuery(limit=5, offset=10))
    assert names(rows + second + last) == NAMES[::-1]  # pages meet without a gap or a repeat
    by_name = [row for offset in (0, 5, 10) for row in store.session_table(
        TableQuery(sort="name", descending=False, limit=5, offset=offset))[0]]
    assert names(by_name) == sorted(NAMES, key=str.casefold)  # case does not split the alphabet
    backwards, _ = store.session_table(TableQuery(sort="name", descending=True, limit=3))
    assert names(backwards) == sorted(NAMES, key=str.casefold, reverse=True)[:3]
    most, _ = store.session_table(TableQuery(sort="checkpoints", limit=len(NAMES)))
    assert [row.n_checkpoints for row in most] == sorted((i % 4 + 1 for i in range(len(NAMES))), reverse=True)
    biggest, _ = store.session_table(TableQuery(sort="size", limit=len(NAMES)))
    sizes = [row.disk_bytes for row in biggest]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) > 1
    smallest, _ = store.session_table(TableQuery(sort="size", descending=False, limit=1))
    assert smallest[0].id == biggest[-1].id
    assert store.session_table(TableQuery(offset=len(NAMES)))[0] == []


def test_the_row_shows_what_the_files_hold(birds: tuple[SessionStore, dict[str, str]]) -> None:
    store, ids = birds
    rows, _ = store.session_table(TableQuery(limit=len(NAMES)))
    row = next(r for r in rows if r.id == ids["osprey"])
    assert (row.mode, row.model, row.n_checkpoints) == ("default", "model-0.gguf", 2)
    assert row.first_words.startswith("The osprey flew over the river river")
    assert len(row.first_words) <= 81 and row.first_words.endswith("…")
    assert row.changed == store.get_session(ids["osprey"]).updated
    for row in rows:
        assert row.disk_bytes == folder_bytes(store.session_dir(row.id)), row.meta.name


def test_sizes_on_disk_follow_every_change(birds: tuple[SessionStore, dict[str, str]]) -> None:
    store, ids = birds
    sid = ids["osprey"]

    def size() -> int:
        rows, _ = store.session_table(TableQuery(words="osprey", limit=1))
        return rows[0].disk_bytes

    store.add_checkpoint(sid, checkpoint("a much longer text " * 200))
    assert size() == folder_bytes(store.session_dir(sid))
    store.write_autosave(sid, checkpoint("typed since " * 50))
    store.update_session(sid, notes="a note " * 40, tags=["birds"])
    newest = store.checkpoint_ids(sid)[0]
    store.set_mark(sid, newest, note="where it turned")
    assert size() == folder_bytes(store.session_dir(sid))
    store.delete_checkpoint(sid, newest)
    assert size() == folder_bytes(store.session_dir(sid))
    # A file added by hand (a sync tool) is measured when the folder is read again.
    ours = store.layout.checkpoint(sid, store.checkpoint_ids(sid)[0])
    copy = ours.with_name(f"{new_checkpoint_id()}.json")
    copy.write_bytes(ours.read_bytes().replace(ours.stem.encode(), copy.stem.encode()))
    assert SessionStore(store.root).session_table(TableQuery(words="osprey", limit=1))[0][0].disk_bytes == \
        folder_bytes(store.session_dir(sid))


def test_words_and_tags_filter_and_the_total_counts_what_they_keep(
        birds: tuple[SessionStore, dict[str, str]]) -> None:
    store, ids = birds
    rows, total = store.session_table(TableQuery(words="sea", sort="name", descending=False, limit=3))
    seaside = sorted(NAMES[::2], key=str.casefold)
    assert total == len(seaside) and names(rows) == seaside[:3]
    rest, _ = store.session_table(TableQuery(words="sea", sort="name", descending=False, limit=3, offset=3))
    assert names(rest) == seaside[3:]
    assert store.session_table(TableQuery(words="corm"))[0][0].id == ids["cormorant"]  # as one types: a prefix
    assert store.session_table(TableQuery(words="sea river")) == ([], 0)  # every word must be there
    assert store.session_table(TableQuery(words="?!")) == ([], 0)  # nothing that can be a word
    store.update_session(ids["gannet"], tags=["Cliffs"])
    store.update_session(ids["pelican"], tags=["cliffs"])
    rows, total = store.session_table(TableQuery(tag="cliffs"))
    assert total == 2 and {r.id for r in rows} == {ids["gannet"], ids["pelican"]}
    assert store.session_table(TableQuery(words="gannet", tag="cliffs"))[1] == 1


def test_a_deleted_session_leaves_the_table_and_the_count(birds: tuple[SessionStore, dict[str, str]]) -> None:
    store, ids = birds
    store.delete_session(ids["loon"])
    rows, total = store.session_table(TableQuery(limit=len(NAMES)))
    assert total == len(NAMES) - 1 and ids["loon"] not in {r.id for r in rows}
    SessionStore(store.root).create_session("loon again")  # another process (the CLI, a second textgen)
    rows, total = store.session_table(TableQuery(limit=len(NAMES)))
    assert total == len(NAMES) and rows[0].meta.name == "loon again"
    assert PAGE_SIZE >= 10


def test_rare_and_common_words_give_the_same_pages_either_way(birds: tuple[SessionStore, dict[str, str]],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A search with few hits sorts its hits; one with many walks the sort's index: the pages agree."""
    store, ids = birds
    store.update_session(ids["gannet"], tags=["sea birds"])
    store.update_session(ids["rail"], tags=["sea birds", "odd"])
    store.update_session(ids["ibis"], tags=["sea"])
    queries = [TableQuery(words=words, tag=tag, sort=sort, descending=descending, limit=4, offset=offset)
               for words in ("sea", "flew the", "r") for tag in (None, "sea birds")
               for sort in ("updated", "name", "size") for descending in (True, False) for offset in (0, 4)]
    few = [store.session_table(q) for q in queries]
    monkeypatch.setattr(session_table, "FEW_HITS", 0)
    assert [store.session_table(q) for q in queries] == few
    monkeypatch.setattr(session_table, "DEEP", 0)  # every page a slice of the hits put in order once
    assert [store.session_table(q) for q in queries] == few
    assert [SessionStore(store.root).session_table(q) for q in queries] == few  # a process that starts afresh
    assert any(rows for rows, _ in few)
    assert store.session_table(TableQuery(tag="sea birds"))[1] == 2  # a tag is matched whole, not by its words
    assert store.session_table(TableQuery(tag="sea"))[1] == 1


def test_deep_pages_of_a_common_word_follow_every_change(birds: tuple[SessionStore, dict[str, str]],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The hits of a word most sessions hold are put in order once and sliced for every page; any change to the
    index (here, in another process, by hand) gives the next page from the sessions as they are now."""
    store, ids = birds
    monkeypatch.setattr(session_table, "FEW_HITS", 0)
    monkeypatch.setattr(session_table, "DEEP", 0)

    def every_page(sort: str = "name") -> tuple[list[str], int]:
        pages = [store.session_table(TableQuery(words="flew", sort=sort, descending=False, limit=5, offset=o))
                 for o in range(0, len(NAMES) + 5, 5)]
        return [name for rows, _ in pages for name in names(rows)], pages[0][1]

    assert every_page() == (sorted(NAMES, key=str.casefold), len(NAMES))
    assert every_page("updated") == (NAMES, len(NAMES))
    other = SessionStore(store.root)  # another process: the CLI, a second textgen
    made = other.create_session("bittern")
    other.add_checkpoint(made.id, checkpoint("The bittern flew low"))
    other.delete_session(ids["heron"])
    other.rename_session(ids["puffin"], "Auk")
    now = [n for n in NAMES if n not in ("heron", "puffin")] + ["Auk", "bittern"]
    assert every_page() == (sorted(now, key=str.casefold), len(now))
    session_json = store.layout.session_file(ids["loon"])  # an editor rewrites a name in place
    session_json.write_text(session_json.read_text().replace('"loon"', '"Loon the second"'))
    store.refresh()
    assert "Loon the second" in every_page()[0]
    assert every_page("updated")[0][-2:] == ["bittern", "Auk"]


def test_one_letter_matches_only_itself_and_longer_beginnings_find_more(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "store")
    for text in ("a cat sat", "apples and pears", "an apple a day"):
        meta = store.create_session(text.split()[1])
        store.add_checkpoint(meta.id, checkpoint(text))
    assert store.session_table(TableQuery(words="a"))[1] == 2  # the word "a", not every word with an a
    assert store.session_table(TableQuery(words="ap"))[1] == 2
    assert store.session_table(TableQuery(words="appl an"))[1] == 2


def test_each_tab_keeps_its_own_page_and_a_new_search_starts_at_page_one(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path / "store")
    store, browser = workspace.store, workspace.browser
    ids = [store.create_session(f"note {i:02d}").id for i in range(PAGE_SIZE * 2 + 3)]
    first = browser.state("a", ids[-1])
    assert (first.page, first.pages, first.total) == (1, 3, len(ids))
    assert first.line == f"Page 1 of 3 · {len(ids)} sessions"
    assert first.rows[0][0] == f"▶ note {len(ids) - 1:02d}" and first.rows[0][-1] == ids[-1]  # the tab's own
    browser.turn("a", +1)
    browser.turn("a", +5)  # past the end: the last page
    last = browser.state("a", None)
    assert last.page == 3 and [row[-1] for row in last.rows] == ids[2::-1]
    assert browser.state("b", None).page == 1  # another tab is where it was
    browser.browse("a", sort="name", descending=False)
    assert browser.state("a", None).page == 1 and browser.state("a", None).rows[0][0] == "note 00"
    browser.browse("a", page=3)
    browser.browse("a", text="note 07")
    found = browser.state("a", None)
    assert (found.page, found.total, found.line) == (1, 1, "Page 1 of 1 · 1 session found")
    store.delete_session(ids[7])
    assert browser.state("a", None).line == "No session matches."


def test_the_panel_shows_the_page_and_a_click_selects_the_row_the_page_showed(tmp_path: Path) -> None:
    """The events as Gradio runs them: the search box's change, then a click on the second row of what the
    page shows (its hidden id column), which selects that session as the session picker does."""
    import gradio as gr

    from session_manager.ui import PageBinding, Panel

    workspace = make_workspace(tmp_path / "store")
    made = [workspace.store.create_session(name).id for name in ("kite", "kestrel", "kiwi", "owl")]
    with gr.Blocks() as app:
        binding = PageBinding(input_box=gr.Textbox(), output_box=gr.Textbox(), params={})
        panel = Panel(workspace)
        panel.quick_bar(binding)
        view = panel.manager()
        panel.finish(app, [binding])
    request = gr.Request(session_hash="tab-a")

    def fired(component: object, event: str) -> object:
        """The function wired to this event of ``component`` that draws the table."""
        (found,) = [f for f in app.fns.values() if (component._id, event) in f.targets
                    and view.table.table in f.outputs]
        return found

    typed = fired(view.search, "change")
    table, page, line = typed.fn(request, "k")  # one letter: the word "k" only
    assert line == "No session matches."
    table, page, line = typed.fn(request, "ke")
    assert (page, line) == (1, "Page 1 of 1 · 1 session found") and table["data"][0][-1] == made[1]
    shown = typed.fn(request, "")[0]["data"]
    assert [row[0] for row in shown] == ["owl", "kiwi", "kestrel", "kite"]
    clicked = fired(view.table.table, "select")
    values = clicked.fn(request, shown, gr.SelectData(None, {"index": [1, 4], "value": "1"}))
    assert workspace.page("tab-a").session_id == made[2]
    outputs = dict(zip(clicked.outputs, values, strict=True))
    assert outputs[view.sessions]["value"] == made[2]
    assert outputs[view.table.table]["data"][1][0] == "▶ kiwi"
