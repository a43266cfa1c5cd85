"""What the history needs of the store: searchable checkpoint notes, the branch links, the step marker
(autosave.json that names the entry it brings back) and the picker values of autosave entries."""

from __future__ import annotations

from index_chaos import index_mode  # noqa: F401 - every test with and without the index

from session_manager.app.history_entries import AUTOSAVE_CHOICE, autosave_choice, load_entry, page_history
from session_manager.models import Checkpoint, new_checkpoint_id, utcnow
from session_manager.store import SessionStore


def state(text: str, **fields: object) -> Checkpoint:
    return Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text=text, **fields)


def test_checkpoint_notes_and_labels_are_searchable(store: SessionStore) -> None:
    meta = store.create_session("Harbour")
    first = store.add_checkpoint(meta.id, state("plain text"))
    store.create_session("Other")
    store.set_mark(meta.id, first.id, note="the albatross version", label="seagull draft")
    assert [hit.id for hit in store.search("albatross")] == [meta.id]
    assert [hit.id for hit in store.search("seagull")] == [meta.id]
    store.set_mark(meta.id, first.id, note="", label="")
    assert store.search("albatross") == []


def test_a_tag_finds_its_sessions(store: SessionStore) -> None:
    tagged = store.create_session("one")
    store.update_session(tagged.id, tags=["Poetry", "draft"], notes="rhymes about the sea")
    store.create_session("two")
    assert [hit.id for hit in store.search("", tag="poetry")] == [tagged.id]
    assert [hit.id for hit in store.search("rhymes")] == [tagged.id]


def test_branch_links_name_every_branch_and_its_parent(store: SessionStore) -> None:
    root = store.create_session("root")
    cp = store.add_checkpoint(root.id, state("start"))
    child, copied = store.branch(root.id, cp.id, "child")
    grandchild, _ = store.branch(child.id, copied.id, "grandchild")
    links = {link.session_id: link for link in store.branch_links()}
    assert set(links) == {child.id, grandchild.id}
    assert (links[child.id].parent_session, links[child.id].parent_checkpoint) == (root.id, cp.id)
    assert (links[grandchild.id].name, links[grandchild.id].parent_session) == ("grandchild", child.id)
    store.delete_session(grandchild.id)
    assert [link.session_id for link in store.branch_links()] == [child.id]


def test_a_step_moves_the_present_and_adds_no_entry(store: SessionStore) -> None:
    meta = store.create_session("s")
    old = store.add_checkpoint(meta.id, state("old"))
    store.write_autosave(meta.id, state("typed"))
    newest = store.add_checkpoint(meta.id, state("newest"))
    before = page_history(store, meta.id)

    marker = store.show_step(meta.id, old)
    assert marker is not None and marker.restores == old.id and marker.input_text == "old"
    assert store.latest_state(meta.id).input_text == "old"  # what a restart shows
    assert page_history(store, meta.id) == before
    assert [a.input_text for a in store.autosaves(meta.id)] == ["typed"]  # the marker is no entry

    store.show_step(meta.id, None)
    assert store.latest_state(meta.id).id == newest.id
    assert store.read_autosave(meta.id).input_text == "typed"
    assert page_history(store, meta.id) == before


def test_a_step_keeps_an_autosave_from_before_the_history(store: SessionStore) -> None:
    meta = store.create_session("s")
    first = store.add_checkpoint(meta.id, state("first"))
    store.write_autosave(meta.id, state("old-style autosave"))
    for entry in store.layout.autosaves(meta.id).iterdir():  # a store from before the autosave history
        entry.unlink()
    store.show_step(meta.id, first)
    assert [a.input_text for a in store.autosaves(meta.id)] == ["old-style autosave"]
    store.show_step(meta.id, None)
    assert store.latest_state(meta.id).input_text == "old-style autosave"


def test_back_at_the_newest_state_without_autosaves_leaves_no_autosave(store: SessionStore) -> None:
    meta = store.create_session("s")
    first = store.add_checkpoint(meta.id, state("first"))
    store.add_checkpoint(meta.id, state("second"))
    store.show_step(meta.id, first)
    store.show_step(meta.id, None)
    assert store.read_autosave(meta.id) is None
    assert store.latest_state(meta.id).input_text == "second"


def test_every_autosave_of_the_history_can_be_named(store: SessionStore) -> None:
    meta = store.create_session("s")
    older, newer = state("older"), state("newer")
    store.write_autosave(meta.id, older)
    store.write_autosave(meta.id, newer)
    assert load_entry(store, meta.id, autosave_choice(older.id)).input_text == "older"
    assert load_entry(store, meta.id, AUTOSAVE_CHOICE).input_text == "newer"
    assert load_entry(store, meta.id, autosave_choice(new_checkpoint_id())) is None  # trimmed or never there
    assert load_entry(store, meta.id, "autosave:../../etc/passwd") is None
    assert load_entry(store, meta.id, "../session.json") is None
