from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from index_chaos import index_mode  # noqa: F401 - every test with and without the index

from session_manager.errors import BrokenFile, InvalidId, InvalidName, NotFound
from session_manager.models import Checkpoint, KVRef, new_checkpoint_id, utcnow
from session_manager.store import SessionStore, clean_name


def make_checkpoint(text: str = "Once upon a time", **fields) -> Checkpoint:
    return Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text=text, output_text=text + " there was",
                      params={"temperature": 0.7, "seed": 5}, **fields)


def test_session_roundtrip_and_newest_first(store: SessionStore) -> None:
    first = store.create_session("First")
    time.sleep(0.01)
    second = store.create_session("Second")
    store.add_checkpoint(first.id, make_checkpoint())  # touching first makes it the newest
    names = [row.meta.name for row in store.list_sessions()]
    assert names == ["First", "Second"]
    assert store.get_session(second.id).name == "Second"


def test_checkpoints_in_the_same_millisecond_never_overwrite(store: SessionStore) -> None:
    meta = store.create_session("s")
    ids = {store.add_checkpoint(meta.id, make_checkpoint(str(i))).id for i in range(50)}
    assert len(ids) == 50
    assert len(store.checkpoint_ids(meta.id)) == 50
    loaded = {c.id for c in store.list_checkpoints(meta.id)}
    assert loaded == ids


def test_checkpoint_roundtrip_keeps_every_field(store: SessionStore) -> None:
    meta = store.create_session("s")
    original = make_checkpoint(label="before the twist", history={"internal": [["a", "b"]], "visible": []})
    store.add_checkpoint(meta.id, original)
    assert store.get_checkpoint(meta.id, original.id) == original


def test_rename_is_a_label_and_never_moves_files(store: SessionStore) -> None:
    a = store.create_session("Alpha")
    b = store.create_session("Beta")
    before = sorted(p.name for p in store.layout.sessions.iterdir())
    store.rename_session(a.id, "Beta")
    assert sorted(p.name for p in store.layout.sessions.iterdir()) == before
    assert {row.meta.name for row in store.list_sessions()} == {"Beta"}
    assert store.get_session(b.id).name == "Beta"


@pytest.mark.parametrize("hostile", ["../x", "/etc/passwd", "a\x00b", "line\nbreak", "x" * 300, "..", "C:\\win"])
def test_hostile_names_stay_labels_inside_the_store(tmp_path: Path, hostile: str) -> None:
    store = SessionStore(tmp_path / "store")
    meta = store.create_session(hostile)
    outside = sorted(str(p) for p in tmp_path.rglob("*") if store.root not in p.parents and p != store.root)
    assert outside == []
    assert "\x00" not in meta.name and "\n" not in meta.name
    assert len(meta.name) <= 120
    assert (store.layout.sessions / meta.id / "session.json").exists()


def test_names_with_nothing_visible_are_refused() -> None:
    with pytest.raises(InvalidName):
        clean_name("\x00\n\t ")


@pytest.mark.parametrize("bad_id", ["../../etc", "20260101T000000Z-abc/../x", "", "x" * 40])
def test_ids_are_validated_before_touching_paths(store: SessionStore, bad_id: str) -> None:
    with pytest.raises(InvalidId):
        store.get_session(bad_id)
    meta = store.create_session("s")
    with pytest.raises(InvalidId):
        store.get_checkpoint(meta.id, bad_id)


def test_broken_checkpoint_is_set_aside_and_everything_else_still_loads(store: SessionStore) -> None:
    good = store.create_session("good")
    store.add_checkpoint(good.id, make_checkpoint("kept"))
    bad = store.create_session("bad")
    kept = store.add_checkpoint(bad.id, make_checkpoint("also kept"))
    broken = store.add_checkpoint(bad.id, make_checkpoint("broken"))
    path = store.session_dir(bad.id) / "checkpoints" / f"{broken.id}.json"
    path.write_text(path.read_text()[:40])  # truncated by hand

    assert [c.id for c in store.list_checkpoints(bad.id)] == [kept.id]
    assert not path.exists()
    problem = store.problems[-1]
    assert problem.moved_to is not None and problem.moved_to.exists()
    assert "not valid JSON" in str(problem)
    assert {row.meta.name for row in store.list_sessions()} == {"good", "bad"}


def test_broken_session_file_does_not_break_listing(store: SessionStore) -> None:
    ok = store.create_session("ok")
    bad = store.create_session("bad")
    (store.session_dir(bad.id) / "session.json").write_text(json.dumps({"id": bad.id, "name": 5}))
    assert [row.meta.id for row in store.list_sessions()] == [ok.id]
    assert any("invalid" in str(p) for p in store.problems)
    with pytest.raises(NotFound):
        store.get_session(bad.id)


def test_checkpoint_whose_id_does_not_match_its_file_is_refused(store: SessionStore) -> None:
    meta = store.create_session("s")
    cp = store.add_checkpoint(meta.id, make_checkpoint())
    other = make_checkpoint()
    (store.session_dir(meta.id) / "checkpoints" / f"{cp.id}.json").write_text(other.model_dump_json())
    with pytest.raises(BrokenFile):
        store.get_checkpoint(meta.id, cp.id)


def test_autosave_is_written_only_when_changed(store: SessionStore) -> None:
    meta = store.create_session("s")
    snap = make_checkpoint("draft", trigger="autosave")
    assert store.write_autosave(meta.id, snap) is True
    mtime = (store.session_dir(meta.id) / "autosave.json").stat().st_mtime_ns
    again = snap.model_copy(update={"id": new_checkpoint_id(), "created": utcnow()})
    assert store.write_autosave(meta.id, again) is False
    assert (store.session_dir(meta.id) / "autosave.json").stat().st_mtime_ns == mtime
    changed = snap.model_copy(update={"id": new_checkpoint_id(), "output_text": "draft, longer"})
    assert store.write_autosave(meta.id, changed) is True
    assert store.read_autosave(meta.id).output_text == "draft, longer"


def test_latest_state_is_the_newer_of_checkpoint_and_autosave(store: SessionStore) -> None:
    meta = store.create_session("s")
    store.add_checkpoint(meta.id, make_checkpoint("checkpointed"))
    time.sleep(0.002)
    store.write_autosave(meta.id, make_checkpoint("typed later", trigger="autosave"))
    assert store.latest_state(meta.id).input_text == "typed later"
    time.sleep(0.002)
    store.add_checkpoint(meta.id, make_checkpoint("saved last"))
    assert store.latest_state(meta.id).input_text == "saved last"


def test_delete_session_and_checkpoint(store: SessionStore) -> None:
    meta = store.create_session("s")
    a = store.add_checkpoint(meta.id, make_checkpoint("a"))
    b = store.add_checkpoint(meta.id, make_checkpoint("b"))
    store.delete_checkpoint(meta.id, a.id)
    assert store.checkpoint_ids(meta.id) == [b.id]
    store.delete_session(meta.id)
    assert store.list_sessions() == []
    assert list(store.root.glob(".deleting-*")) == []
    with pytest.raises(NotFound):
        store.delete_session(meta.id)


def test_branch_copies_the_checkpoint_and_records_the_parent(store: SessionStore) -> None:
    meta = store.create_session("story")
    cp = store.add_checkpoint(meta.id, make_checkpoint("chapter one"))
    branch, first = store.branch(meta.id, cp.id, "story, darker")
    assert branch.parent.session == meta.id and branch.parent.checkpoint == cp.id
    assert first.trigger == "branch" and first.input_text == "chapter one"
    assert store.checkpoint_ids(meta.id) == [cp.id]


def test_search_matches_names_and_text(store: SessionStore) -> None:
    dragons = store.create_session("Dragons")
    store.add_checkpoint(dragons.id, make_checkpoint("the lighthouse keeper"))
    store.create_session("Other")
    assert [r.meta.id for r in store.search("lighthouse")] == [dragons.id]
    assert [r.meta.id for r in store.search("dragons keeper")] == [dragons.id]
    assert store.search("nowhere") == []


def test_kv_budget_evicts_oldest_blobs_and_keeps_text(store: SessionStore) -> None:
    meta = store.create_session("s")
    ids = []
    for i in range(4):
        cp = make_checkpoint(str(i))
        blob = store.kv_path(meta.id, cp.id)
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(b"k" * 1000)
        store.add_checkpoint(meta.id, cp.model_copy(update={"kv": KVRef(file=blob.name, bytes=1000, n_tokens=10,
                                                                          fingerprint="f", backend="x")}))
        ids.append(cp.id)
    evicted = store.evict_kv(2500)
    assert [b.checkpoint_id for b in evicted] == ids[:2]
    assert store.kv_bytes(meta.id) == 2000
    assert len(store.checkpoint_ids(meta.id)) == 4


def test_adding_a_checkpoint_costs_the_same_with_many(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """O(1) add: the files written and the files read do not grow with the session."""
    meta = store.create_session("big")
    folder = store.session_dir(meta.id) / "checkpoints"
    reads: list[Path] = []
    original = store.files.read
    monkeypatch.setattr(store.files, "read", lambda *a, **k: reads.append(a[0]) or original(*a, **k))

    def one_more() -> tuple[list[str], list[Path]]:
        written_before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} if folder.exists() else {}
        reads.clear()
        store.add_checkpoint(meta.id, make_checkpoint("one more"))
        return [p.name for p in folder.iterdir() if written_before.get(p.name) != p.stat().st_mtime_ns], list(reads)

    for i in range(300):
        if i == 2:
            _, reads_with_few = one_more()
        store.add_checkpoint(meta.id, make_checkpoint(str(i)))
    changed, reads_with_many = one_more()
    assert len(changed) == 1
    assert len(reads_with_many) == len(reads_with_few), "add_checkpoint reads more files in a longer session"
    assert len([path for path in reads_with_many if path.parent == folder]) <= 1  # the newest, for a lost index


def test_disk_full_gives_a_clear_message_and_keeps_the_old_file(store: SessionStore, monkeypatch) -> None:
    from session_manager import atomic
    from session_manager.errors import StorageError

    meta = store.create_session("before the disk filled")
    real_fsync = os.fsync

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full_disk)
    with pytest.raises(StorageError, match="disk is full"):
        store.rename_session(meta.id, "after")
    monkeypatch.setattr(atomic.os, "fsync", real_fsync)
    assert store.get_session(meta.id).name == "before the disk filled"
    assert list((store.layout.sessions / meta.id).glob(".*.tmp")) == []


WRITER = """
import sys, itertools
from pathlib import Path
from session_manager.store import SessionStore
from session_manager.models import Checkpoint, new_checkpoint_id, utcnow
store = SessionStore(Path(sys.argv[1]))
session_id = sys.argv[2]
print("ready", flush=True)
for i in itertools.count():
    text = str(i) * 5000
    cp = Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text=text, trigger="autosave")
    store.write_autosave(session_id, cp)
    store.rename_session(session_id, f"name {i}")
"""


def test_kill_9_mid_write_leaves_every_file_whole(store: SessionStore) -> None:
    import signal
    import subprocess
    import sys

    meta = store.create_session("crash me")
    for round_ in range(5):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(store.root), meta.id], stdout=subprocess.PIPE,
                                text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.05 + round_ * 0.03)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        fresh = SessionStore(store.root)
        assert fresh.get_session(meta.id).name.startswith(("crash me", "name "))
        autosave = fresh.read_autosave(meta.id)
        if autosave is not None:
            assert len(set(autosave.input_text)) <= 10 and len(autosave.input_text) % 5000 == 0
        assert fresh.problems == []


def test_kv_eviction_never_touches_folders_or_links_named_like_blobs(store: SessionStore, tmp_path: Path) -> None:
    meta = store.create_session("s")
    kv = store.session_dir(meta.id) / "kv"
    kv.mkdir()
    (kv / f"{new_checkpoint_id()}.kv").mkdir()
    precious = tmp_path / "precious.bin"
    precious.write_bytes(b"p" * 5000)
    (kv / f"{new_checkpoint_id()}.kv").symlink_to(precious)
    real = kv / f"{new_checkpoint_id()}.kv"
    real.write_bytes(b"k" * 100)
    assert [b.path for b in store.evict_kv(0)] == [real]
    assert precious.exists() and len(list(kv.iterdir())) == 2


def test_every_autosave_is_kept_in_the_history_up_to_its_limit(store) -> None:
    from session_manager.models import ModelInfo
    from session_manager.recording.page_mirror import PageContent
    from session_manager.store.autosaves import AUTOSAVE_HISTORY

    session_id = store.create_session("history").id
    texts = [f"draft {i}" for i in range(AUTOSAVE_HISTORY + 5)]
    for text in texts:
        assert store.write_autosave(session_id, PageContent(input_text=text).to_checkpoint("autosave", ModelInfo()))
    history = store.autosaves(session_id)
    assert [a.input_text for a in history] == texts[::-1][:AUTOSAVE_HISTORY]
    assert store.read_autosave(session_id).input_text == texts[-1]
    assert store.autosaves(session_id, limit=3)[0].input_text == texts[-1]
