"""doctor.check_store against real stores damaged by hand."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from index_chaos import index_mode  # noqa: F401 - every test with and without the index

from session_manager import kvstate
from session_manager.models import Checkpoint, KVRef, ModelFingerprint, SessionMeta, new_checkpoint_id, utcnow
from session_manager.store import SessionStore
from session_manager.store.doctor import Finding, check_store, has_errors


def add(store: SessionStore, session_id: str, text: str = "Once upon a time", **fields: object) -> Checkpoint:
    cp = Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text=text, output_text=text + " there was",
                    **fields)
    return store.add_checkpoint(session_id, cp)


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def write_real_blob(path: Path, n_tokens: int = 3) -> None:
    from session_manager.kvstate.blob import write_blob

    fingerprint = ModelFingerprint(file_name="m.gguf", file_size=10, sample_hash="ab", n_ctx=512)
    write_blob(path, backend="llama-cpp-python", fingerprint=fingerprint, token_ids=list(range(1, n_tokens + 1)),
               state=b"\x01" * 64)


def kv_ref(checkpoint_id: str, n_tokens: int = 3) -> KVRef:
    return KVRef(file=f"{checkpoint_id}.kv", bytes=100, n_tokens=n_tokens, fingerprint="f", backend="llama-cpp-python")


def test_a_healthy_store_has_no_findings(store: SessionStore) -> None:
    meta = store.create_session("fine")
    add(store, meta.id)
    store.write_autosave(meta.id, Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text="draft"))
    findings = check_store(store)
    assert findings == []
    assert not has_errors(findings)


def test_truncated_checkpoint_is_set_aside_and_everything_else_stays(store: SessionStore) -> None:
    keep = store.create_session("keep")
    add(store, keep.id)
    hurt = store.create_session("hurt")
    good = add(store, hurt.id, "good")
    bad = add(store, hurt.id, "bad")
    bad_path = store.session_dir(hurt.id) / "checkpoints" / f"{bad.id}.json"
    bad_path.write_text(bad_path.read_text()[:40])

    findings = check_store(store)

    [finding] = findings
    assert finding.severity == "error" and finding.path == bad_path
    assert "not valid JSON" in finding.problem
    assert finding.moved_to is not None and finding.moved_to.parent == store.layout.broken
    assert finding.moved_to.read_text().startswith("{")
    assert not bad_path.exists()
    assert has_errors(findings)
    assert [c.id for c in store.list_checkpoints(hurt.id)] == [good.id]
    assert {row.meta.name for row in store.list_sessions()} == {"keep", "hurt"}
    assert check_store(store) == []  # a second run finds the store clean


def test_wrong_types_in_session_json_rebuild_the_session_from_its_checkpoints(store: SessionStore) -> None:
    meta = store.create_session("typed")
    cp = add(store, meta.id, mode="notebook")
    path = store.session_dir(meta.id) / "session.json"
    doc = json.loads(path.read_text())
    doc["created"] = {"not": "a date"}
    path.write_text(json.dumps(doc))

    findings = check_store(store)

    broken = [f for f in findings if f.moved_to is not None]
    assert len(broken) == 1 and "created" in broken[0].problem
    recreated = [f for f in findings if "recreated" in f.action]
    assert len(recreated) == 1 and recreated[0].path == path
    rebuilt = store.get_session(meta.id)
    assert rebuilt.name.startswith("Recovered ") and rebuilt.mode == "notebook"
    assert [c.id for c in store.list_checkpoints(meta.id)] == [cp.id]


def test_checkpoint_whose_id_mismatches_its_file_name_is_set_aside(store: SessionStore) -> None:
    meta = store.create_session("s")
    cp = add(store, meta.id)
    folder = store.session_dir(meta.id) / "checkpoints"
    impostor = folder / f"{new_checkpoint_id()}.json"
    impostor.write_text((folder / f"{cp.id}.json").read_text())

    [finding] = check_store(store)

    assert finding.path == impostor and "does not match the file name" in finding.problem
    assert not impostor.exists() and finding.moved_to is not None and finding.moved_to.exists()
    assert store.checkpoint_ids(meta.id) == [cp.id]


def test_json_files_not_named_by_a_checkpoint_id_are_set_aside(store: SessionStore) -> None:
    meta = store.create_session("s")
    cp = add(store, meta.id)
    folder = store.session_dir(meta.id) / "checkpoints"
    stray = folder / "notes; rm -rf ~.json"
    stray.write_text((folder / f"{cp.id}.json").read_text())
    other = folder / "README.txt"
    other.write_text("left by hand")

    findings = check_store(store)

    assert [f.path for f in errors(findings)] == [stray]
    assert "not a checkpoint id" in errors(findings)[0].problem and not stray.exists()
    assert other.exists() and any(f.path == other and f.severity == "info" for f in findings)
    assert store.checkpoint_ids(meta.id) == [cp.id]


def test_folders_with_hostile_names_and_links_are_set_aside(store: SessionStore, tmp_path: Path) -> None:
    meta = store.create_session("normal")
    hostile = store.layout.sessions / "evil\x1b[2J; rm -rf ~"
    (hostile / "checkpoints").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("mine")
    link = store.layout.sessions / "20250101T000000Z-abcdef"
    link.symlink_to(outside, target_is_directory=True)

    findings = check_store(store)

    assert {f.path for f in errors(findings)} == {hostile, link}
    assert all(f.moved_to is not None and f.moved_to.parent == store.layout.broken for f in findings)
    assert not hostile.exists() and not link.is_symlink()
    assert (outside / "precious.txt").read_text() == "mine"  # the link moved, not what it points to
    assert [row.meta.id for row in store.list_sessions()] == [meta.id]


def test_old_temp_files_are_removed_and_young_ones_left_alone(store: SessionStore) -> None:
    meta = store.create_session("s")
    folder = store.session_dir(meta.id)
    old = folder / "checkpoints" / ".x.json.k2j4h1.tmp"
    old.write_text("half")
    age(old, 3600)
    young = folder / ".autosave.json.p0q9w8.tmp"
    young.write_text("being written")

    findings = check_store(store, tmp_grace=60)

    by_path = {f.path: f for f in findings}
    assert by_path[old].severity == "repaired" and not old.exists()
    assert by_path[young].severity == "info" and young.exists()
    assert not has_errors(findings)


def test_an_interrupted_delete_is_finished(store: SessionStore) -> None:
    doomed = store.root / ".deleting-20250101T000000Z-abcdef"
    (doomed / "checkpoints").mkdir(parents=True)
    (doomed / "session.json").write_text("{}")

    [finding] = check_store(store)

    assert finding.severity == "repaired" and finding.path == doomed
    assert not doomed.exists()


def test_missing_kv_blob_is_info_not_an_error(store: SessionStore) -> None:
    meta = store.create_session("kv")
    cp_id = new_checkpoint_id()
    store.add_checkpoint(meta.id, Checkpoint(id=cp_id, created=utcnow(), kv=kv_ref(cp_id)))

    findings = check_store(store)

    assert [f.severity for f in findings] == ["info"]
    assert findings[0].path == store.kv_path(meta.id, cp_id) and "missing" in findings[0].problem
    assert not has_errors(findings)


def test_a_corrupt_kv_blob_is_set_aside_and_a_good_one_kept(store: SessionStore) -> None:
    pytest.importorskip("session_manager.kvstate.blob")
    meta = store.create_session("kv")
    good_id, bad_id = new_checkpoint_id(), new_checkpoint_id()
    for cp_id in (good_id, bad_id):
        store.add_checkpoint(meta.id, Checkpoint(id=cp_id, created=utcnow(), kv=kv_ref(cp_id)))
    write_real_blob(store.kv_path(meta.id, good_id))
    bad = store.kv_path(meta.id, bad_id)
    write_real_blob(bad)
    bad.write_bytes(bad.read_bytes()[:-10])

    findings = check_store(store)

    assert [f.path for f in errors(findings)] == [bad]
    assert "truncated" in errors(findings)[0].problem
    assert store.kv_path(meta.id, good_id).exists() and not bad.exists()


def test_kv_checks_are_skipped_with_a_note_without_the_blob_reader(store: SessionStore,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(kvstate, "blob", raising=False)
    monkeypatch.setitem(sys.modules, "session_manager.kvstate.blob", None)
    meta = store.create_session("kv")
    cp_id = new_checkpoint_id()
    store.add_checkpoint(meta.id, Checkpoint(id=cp_id, created=utcnow(), kv=kv_ref(cp_id)))
    garbage = store.kv_path(meta.id, cp_id)
    garbage.parent.mkdir()
    garbage.write_bytes(b"not a blob")

    findings = check_store(store)

    assert [f.severity for f in findings] == ["info"]
    assert "not available" in findings[0].problem and findings[0].path == store.root
    assert garbage.exists()


def test_broken_autosave_and_settings_are_set_aside(store: SessionStore) -> None:
    meta = store.create_session("s")
    add(store, meta.id)
    autosave = store.session_dir(meta.id) / "autosave.json"
    autosave.write_text('{"id": 42}')
    settings = store.root / "settings.json"
    settings.write_text('{"values": [1, 2]}')

    findings = check_store(store)

    assert {f.path for f in errors(findings)} == {autosave, settings}
    assert not autosave.exists() and not settings.exists()
    assert len(list(store.layout.broken.iterdir())) == 2


def test_a_second_broken_file_at_the_same_place_is_set_aside_beside_the_first(store: SessionStore) -> None:
    """Set-aside names carry the time: the second broken autosave never overwrites the first in broken/."""
    meta = store.create_session("s")
    add(store, meta.id)
    autosave = store.session_dir(meta.id) / "autosave.json"
    for damage in ('{"id": "first damage"}', '{"id": "second damage"}'):
        autosave.write_text(damage)
        check_store(store)
        assert not autosave.exists()
    kept = sorted(path.read_text() for path in store.layout.broken.iterdir())
    assert kept == ['{"id": "first damage"}', '{"id": "second damage"}']


def test_empty_session_folder_is_removed_and_a_missing_session_json_is_rebuilt(store: SessionStore) -> None:
    empty = store.layout.sessions / "20250101T000000Z-empty0"
    (empty / "checkpoints").mkdir(parents=True)
    orphan = store.create_session("orphan")
    cp = add(store, orphan.id)
    (store.session_dir(orphan.id) / "session.json").unlink()

    findings = check_store(store)

    assert not empty.exists()
    assert any(f.path == empty and f.severity == "repaired" for f in findings)
    rebuilt = SessionMeta.model_validate_json((store.session_dir(orphan.id) / "session.json").read_text())
    assert rebuilt.id == orphan.id and rebuilt.created == cp.created
    assert [row.meta.id for row in store.list_sessions()] == [orphan.id]
