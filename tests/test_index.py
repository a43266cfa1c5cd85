"""The index: search, pages, checkpoint summaries, marks, links, revision, and its repair (issue 11)."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hostile import write_real_blob
from index_chaos import index_mode  # noqa: F401 - every test with and without the index

from session_manager.errors import ImportFailed, NewerFormat, NotFound
from session_manager.migrations import upgrade
from session_manager.models import (
    Checkpoint,
    GenerationStats,
    HostLink,
    KVRef,
    ModelInfo,
    SessionMeta,
    new_checkpoint_id,
    new_session_id,
    utcnow,
)
from session_manager.store import SessionStore
from session_manager.store.bundle import SessionBundle
from session_manager.store.summaries import HIT_END, HIT_START


def kept_index(request: pytest.FixtureRequest) -> bool:
    return request.getfixturevalue("index_mode") == "index kept"


def add(store: SessionStore, session_id: str, text: str, **fields: object) -> Checkpoint:
    values = {"id": new_checkpoint_id(), "created": utcnow(), "input_text": text, "output_text": text, **fields}
    return store.add_checkpoint(session_id, Checkpoint(**values))


def with_blob(store: SessionStore, session_id: str, text: str, n_tokens: int = 3) -> Checkpoint:
    cp_id = new_checkpoint_id()
    blob = write_real_blob(store.kv_path(session_id, cp_id), n_tokens)
    return add(store, session_id, text, id=cp_id, kv=KVRef(file=blob.name, bytes=blob.stat().st_size,
                                                             n_tokens=n_tokens, fingerprint="f",
                                                             backend="llama-cpp-python"))


# ----- search -------------------------------------------------------------------------------


def test_search_ranks_name_hits_first_and_shows_where_it_matched(store: SessionStore) -> None:
    in_text = store.create_session("Harbour notes")
    add(store, in_text.id, "At dusk the lighthouse keeper climbed the stairs. " * 20 + "Then the storm came.")
    in_name = store.create_session("Lighthouse at dusk")
    add(store, in_name.id, "nothing to see here")
    store.create_session("Unrelated")

    hits = store.search("lighthouse")
    assert [h.id for h in hits] == [in_name.id, in_text.id]
    assert all(HIT_START in h.snippet and HIT_END in h.snippet for h in hits)
    assert "«lighthouse»" in hits[1].marked().casefold() and len(hits[1].plain_snippet) < 300
    assert [h.id for h in store.search("light keep")] == [in_text.id]  # word starts, every word
    assert [h.id for h in store.search("LIGHTHOUSE dusk")] == [in_name.id, in_text.id]
    assert store.search("storm lighthouse")[0].id == in_text.id
    assert store.search("!!!") == [] and store.search("nowhere") == []
    assert [h.id for h in store.search("keeper _ ,")] == [in_text.id]


def test_search_finds_tags_notes_and_accents(store: SessionStore) -> None:
    meta = store.create_session("Plain")
    store.update_session(meta.id, tags=["Fiction", "draft"], notes="Written at the café")
    assert [h.id for h in store.search("fiction")] == [meta.id]
    assert [h.id for h in store.search("cafe")] == [meta.id]
    assert [h.id for h in store.search("written")] == [meta.id]


def test_search_filters_by_tag_model_mode_and_date(store: SessionStore) -> None:
    a = store.create_session("alpha story")
    add(store, a.id, "a story", model=ModelInfo(name="gemma-3-270m.gguf"))
    store.update_session(a.id, tags=["work"])
    b = store.create_session("beta story", mode="notebook")
    add(store, b.id, "a story", mode="notebook", model=ModelInfo(name="llama-3.gguf"))
    now = utcnow()
    assert [h.id for h in store.search("story", tag="WORK")] == [a.id]
    assert [h.id for h in store.search("story", model="gemma")] == [a.id]
    assert [h.id for h in store.search("", mode="notebook")] == [b.id]
    assert {h.id for h in store.search("", since=now - timedelta(minutes=1))} == {a.id, b.id}
    assert store.search("", until=now - timedelta(days=1)) == []
    assert [h.id for h in store.search("story", limit=1, offset=1)] == [store.search("story")[1].id]


def test_search_follows_the_latest_state(store: SessionStore) -> None:
    meta = store.create_session("s")
    add(store, meta.id, "first draft about whales")
    assert [h.id for h in store.search("whales")] == [meta.id]
    store.write_autosave(meta.id, Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text="now about owls",
                                             trigger="autosave"))
    assert store.search("whales") == [] and [h.id for h in store.search("owls")] == [meta.id]


# ----- pages and counts ---------------------------------------------------------------------


def test_pages_of_the_session_list(store: SessionStore) -> None:
    ids = []
    for i in range(7):
        ids.append(store.create_session(f"s{i}").id)
        time.sleep(0.002)
    newest_first = list(reversed(ids))
    assert [r.id for r in store.list_sessions()] == newest_first
    assert [r.id for r in store.list_sessions(limit=3, offset=2)] == newest_first[2:5]
    assert store.count_sessions() == 7
    assert store.list_sessions(limit=0) == []


# ----- checkpoint summaries and marks -------------------------------------------------------


def test_checkpoint_summaries_are_light_rows_with_the_marks_applied(store: SessionStore) -> None:
    meta = store.create_session("s")
    plain = add(store, meta.id, "one two three", label="own label", tokens=12,
                model=ModelInfo(name="m.gguf"), generation=GenerationStats(new_tokens=40, seconds=1.5))
    kept = with_blob(store, meta.id, "with a snapshot")
    store.set_mark(meta.id, plain.id, pinned=True, note="the good one", label="renamed")

    newest, oldest = store.checkpoint_summaries(meta.id)
    assert newest.id == kept.id and newest.kv and newest.kv_present and newest.kv_tokens == 3
    assert newest.kv_bytes == store.kv_path(meta.id, kept.id).stat().st_size
    assert (oldest.id, oldest.label, oldest.pinned, oldest.note) == (plain.id, "renamed", True, "the good one")
    assert (oldest.chars, oldest.words, oldest.tokens, oldest.model) == (13, 3, 12, "m.gguf")
    assert (oldest.generation_tokens, oldest.generation_seconds) == (40, 1.5)
    assert not oldest.kv and not oldest.kv_present
    assert [s.id for s in store.checkpoint_summaries(meta.id, limit=1, offset=1)] == [plain.id]

    store.set_mark(meta.id, plain.id, pinned=False, note="", label="")
    assert store.marks(meta.id).marks == {}  # a mark back at its defaults is no mark
    assert store.checkpoint_summaries(meta.id)[1].label == "own label"


def test_summaries_follow_files_added_or_removed_elsewhere(store: SessionStore) -> None:
    meta = store.create_session("s")
    first = add(store, meta.id, "first")
    assert [s.id for s in store.checkpoint_summaries(meta.id)] == [first.id]
    other = SessionStore(store.root)  # another process
    second = add(other, meta.id, "second")
    assert [s.id for s in store.checkpoint_summaries(meta.id)] == [second.id, first.id]
    store.layout.checkpoint(meta.id, first.id).unlink()  # by hand
    assert [s.id for s in store.checkpoint_summaries(meta.id)] == [second.id]
    assert store.checkpoint_summaries(new_session_id()) == []


def test_a_page_of_summaries_reads_no_checkpoint_file(store: SessionStore, monkeypatch: pytest.MonkeyPatch,
                                                      request: pytest.FixtureRequest) -> None:
    if not kept_index(request):
        pytest.skip("without an index every answer comes from the files")
    meta = store.create_session("big")
    for i in range(300):
        add(store, meta.id, f"text {i}")
    store.checkpoint_summaries(meta.id, limit=50)
    reads = []
    original = store.files.read
    monkeypatch.setattr(store.files, "read", lambda *a, **k: reads.append(a[0]) or original(*a, **k))
    page = store.checkpoint_summaries(meta.id, limit=50)
    assert len(page) == 50 and reads == []


def test_pinned_checkpoints_keep_their_kv_blobs(store: SessionStore) -> None:
    meta = store.create_session("s")
    oldest = with_blob(store, meta.id, "oldest, pinned")
    middle = with_blob(store, meta.id, "middle")
    newest = with_blob(store, meta.id, "newest")
    store.set_mark(meta.id, oldest.id, pinned=True)
    evicted = store.evict_kv(0, keep={newest.id})
    assert [b.checkpoint_id for b in evicted] == [middle.id]
    assert store.has_kv(meta.id, oldest) and store.has_kv(meta.id, newest)
    assert [s.kv_present for s in store.checkpoint_summaries(meta.id)] == [True, False, True]


def test_marks_need_a_real_checkpoint(store: SessionStore) -> None:
    meta = store.create_session("s")
    with pytest.raises(NotFound):
        store.set_mark(meta.id, new_checkpoint_id(), pinned=True)
    cp = add(store, meta.id, "x")
    mark = store.set_mark(meta.id, cp.id, label="line one\nline two", note="n" * 200_000)
    assert mark.label == "line one line two" and len(mark.note) == 100_000


# ----- links and origins --------------------------------------------------------------------


def test_find_by_link_and_by_origin(store: SessionStore) -> None:
    chat = HostLink(kind="textgen-chat", name="20260101-10-00-00", character="Assistant")
    a = store.create_session("chat a")
    store.update_session(a.id, link=chat.model_dump(), origin="textgen-chat:Assistant/20260101-10-00-00")
    store.create_session("other")
    assert store.find_by_link(chat).id == a.id
    assert store.find_by_link(chat.model_copy(update={"character": "Someone else"})) is None
    assert store.find_by_origin("textgen-chat:Assistant/20260101-10-00-00").id == a.id
    assert store.find_by_origin("nowhere") is None
    store.delete_session(a.id)
    assert store.find_by_link(chat) is None


# ----- bundles ------------------------------------------------------------------------------


def test_add_bundle_is_whole_with_verified_blobs(store: SessionStore, tmp_path: Path) -> None:
    good_id, bad_id = new_checkpoint_id(), new_checkpoint_id()
    good = write_real_blob(tmp_path / "good.kv")
    bad = write_real_blob(tmp_path / "bad.kv")
    bad.write_bytes(bad.read_bytes()[:-1] + b"\x00")
    ref = KVRef(file=f"{good_id}.kv", bytes=1, n_tokens=3, fingerprint="f", backend="llama-cpp-python")
    checkpoints = [Checkpoint(id=good_id, created=utcnow(), input_text="good", kv=ref),
                   Checkpoint(id=bad_id, created=utcnow(), input_text="bad",
                              kv=ref.model_copy(update={"file": f"{bad_id}.kv"}))]
    meta = SessionMeta(id=new_session_id(), name="bundle", created=utcnow(), updated=utcnow(), origin="o1")
    added = store.add_bundle(SessionBundle(meta=meta, checkpoints=checkpoints, blobs={good_id: good, bad_id: bad}))
    assert added.id != meta.id and store.find_by_origin("o1").id == added.id
    assert {c.id: c.kv is not None for c in store.list_checkpoints(added.id)} == {good_id: True, bad_id: False}
    assert good.exists() and bad.exists()  # a caller's files are copied, never moved
    assert any("checksum" in str(p) for p in store.problems)


def test_a_bundle_that_fails_leaves_nothing(store: SessionStore) -> None:
    meta = SessionMeta(id=new_session_id(), name="bad", created=utcnow(), updated=utcnow())
    broken = Checkpoint(id=new_checkpoint_id(), created=utcnow()).model_copy(update={"created": "not a time"})
    with pytest.raises(ImportFailed):
        store.add_bundle(SessionBundle(meta=meta, checkpoints=[broken]))
    assert store.list_sessions() == [] and sorted(p.name for p in store.root.iterdir() if p.is_dir()) == [
        "sessions"]


# ----- the index as a cache -----------------------------------------------------------------


def test_a_damaged_index_is_rebuilt_with_a_message(store: SessionStore, request: pytest.FixtureRequest) -> None:
    if not kept_index(request):
        pytest.skip("the damaged index would be deleted before it is read")
    meta = store.create_session("survivor")
    add(store, meta.id, "text")
    store.close()
    store.layout.index.write_bytes(b"this is not a database" * 100)
    fresh = SessionStore(store.root)
    assert [r.id for r in fresh.list_sessions()] == [meta.id]
    assert any("index.sqlite" in str(p) and "rebuilt" in str(p) for p in fresh.problems)


def test_edits_by_hand_are_seen(store: SessionStore, tmp_path: Path) -> None:
    meta = store.create_session("before")
    add(store, meta.id, "text")
    store.list_sessions()
    path = store.layout.session_file(meta.id)
    doc = json.loads(path.read_text())
    doc["name"] = "edited by hand"
    path.write_text(json.dumps(doc))  # in place: only the file's own time changes
    assert [r.meta.name for r in SessionStore(store.root).list_sessions()] == ["edited by hand"]
    store.refresh()
    assert [r.meta.name for r in store.list_sessions()] == ["edited by hand"]
    copy = store.layout.sessions / new_session_id()
    shutil.copytree(store.session_dir(meta.id), copy)  # a sync tool brings a folder
    doc["id"] = copy.name
    (copy / "session.json").write_text(json.dumps(doc))
    assert {r.id for r in store.list_sessions()} == {meta.id, copy.name}  # seen at once
    shutil.rmtree(copy)
    assert [r.id for r in store.list_sessions()] == [meta.id]


def test_a_sweep_compares_the_folders_a_slice_at_a_time_and_misses_none(store: SessionStore,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A sweep reads the rows' stamps a slice of ids at a time (never every row at once): changes made by hand
    at the edges of the slices, before the first folder and after the last are all found."""
    from session_manager.store import indexing

    monkeypatch.setattr(indexing, "SWEEP_CHUNK", 2)
    made = [store.create_session(f"note {i}").id for i in range(7)]
    store.list_sessions()
    for i in (0, 1, 4):  # names edited in place at a slice's start, its end, and in the middle
        path = store.layout.session_file(made[i])
        path.write_text(path.read_text().replace(f'"note {i}"', f'"edited {i}"'))
    for i in (3, 6):  # folders removed, the newest among them (after the last folder left)
        shutil.rmtree(store.session_dir(made[i]))
    early = SessionMeta(id="20000101T000000Z-abcdef", name="from a sync tool", created=utcnow(), updated=utcnow())
    store.layout.session(early.id).mkdir()  # a folder brought in before every other one
    store.layout.session_file(early.id).write_text(early.model_dump_json())
    store.refresh()
    expected = {early.id: "from a sync tool", **{made[i]: f"{'edited' if i in (0, 1, 4) else 'note'} {i}"
                                                for i in (0, 1, 2, 4, 5)}}
    assert {r.id: r.meta.name for r in store.list_sessions()} == expected
    assert store.refresh() == 0  # nothing left to read again
    for sid in list(expected)[:3]:
        shutil.rmtree(store.session_dir(sid))
    store.refresh()
    assert len(store.list_sessions()) == 3


def test_revision_changes_with_every_kind_of_change(store: SessionStore, request: pytest.FixtureRequest) -> None:
    seen = {store.revision()}
    meta = store.create_session("s")
    cp = add(store, meta.id, "a")
    for change in (lambda: store.rename_session(meta.id, "t"), lambda: add(store, meta.id, "b"),
                   lambda: store.write_autosave(meta.id, Checkpoint(id=new_checkpoint_id(), created=utcnow(),
                                                                    input_text="c")),
                   lambda: store.set_mark(meta.id, cp.id, pinned=True), lambda: store.delete_checkpoint(meta.id, cp.id),
                   lambda: store.delete_session(meta.id)):
        change()
        now = store.revision()
        assert now not in seen
        seen.add(now)
    if kept_index(request):  # (a deleted index is itself a change)
        assert store.revision() == store.revision() == max(seen)  # nothing changed: the same number


def test_the_index_is_never_exported(store: SessionStore, tmp_path: Path) -> None:
    import zipfile

    from session_manager.formats.session_archive import export_session

    meta = store.create_session("s")
    add(store, meta.id, "x")
    store.list_sessions()
    with zipfile.ZipFile(export_session(store, meta.id, tmp_path, "zip")) as archive:
        assert not [n for n in archive.namelist() if "index" in n or "lock" in n]


# ----- migrations ---------------------------------------------------------------------------


def test_migrations_upgrade_step_by_step_and_refuse_newer() -> None:
    steps = {"Checkpoint": {1: lambda d: {**d, "label": d.get("title", "")}, 2: lambda d: {**d, "seen": True}}}
    old = {"format_version": 1, "title": "from v1"}
    new = upgrade("Checkpoint", old, current=3, migrations=steps)
    assert new == {"format_version": 3, "title": "from v1", "label": "from v1", "seen": True}
    assert upgrade("Checkpoint", new, current=3, migrations=steps) == new  # already current: untouched
    with pytest.raises(NewerFormat, match="format 4"):
        upgrade("Checkpoint", {"format_version": 4}, current=3, migrations=steps)
    with pytest.raises(ValueError, match="format_version 0"):
        upgrade("Checkpoint", {"format_version": 0}, current=3, migrations=steps)


def test_writes_never_recreate_a_deleted_session(store: SessionStore) -> None:
    meta = store.create_session("gone")
    cp = add(store, meta.id, "x")
    store.delete_session(meta.id)
    for write in (lambda: add(store, meta.id, "y"), lambda: store.rename_session(meta.id, "back"),
                  lambda: store.set_mark(meta.id, cp.id, pinned=True),
                  lambda: store.write_autosave(meta.id, Checkpoint(id=new_checkpoint_id(), created=utcnow()))):
        with pytest.raises(NotFound):
            write()
    from session_manager.errors import KVError

    with pytest.raises(KVError):
        write_real_blob_no_parents(store.kv_path(meta.id, new_checkpoint_id()))
    assert not os.path.lexists(store.session_dir(meta.id))


def write_real_blob_no_parents(path: Path) -> None:
    from hostile import FINGERPRINT

    from session_manager.kvstate.blob import write_blob

    write_blob(path, backend="llama-cpp-python", fingerprint=FINGERPRINT, token_ids=[1], state=b"x" * 10)
