"""Many sessions in one zip: chosen by id, tag, search or all; with or without KV; and back, unchanged."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from session_manager.formats import export_bulk, import_paths, select_sessions
from session_manager.store import SessionStore

from .sessions import chat_session, default_session, notebook_session


@pytest.fixture
def three(store: SessionStore) -> list[str]:
    return [chat_session(store), default_session(store), notebook_session(store)]


def snapshot(store: SessionStore, session_id: str) -> dict:
    """Everything a session holds, less what an import changes: its id, its origin, and its last change (now)."""
    meta = store.get_session(session_id)
    autosave = store.read_autosave(session_id)
    return {"meta": meta.model_dump(exclude={"id", "origin", "updated"}),
            "checkpoints": [c.model_dump() for c in store.list_checkpoints(session_id)],
            "autosave": autosave.model_dump() if autosave else None,
            "marks": store.marks(session_id).model_dump(),
            "kv": {c.id: store.kv_path(session_id, c.id).read_bytes() for c in store.list_checkpoints(session_id)
                   if store.has_kv(session_id, c)}}


def test_selection_by_ids_tag_search_or_all(store: SessionStore, three: list[str]) -> None:
    chat, lighthouse, haiku = three
    assert {r.meta.id for r in select_sessions(store, tag="FICTION")} == {chat, lighthouse}
    assert {r.meta.id for r in select_sessions(store, search="kettle")} == {haiku}
    assert {r.meta.id for r in select_sessions(store, [haiku], tag="fiction")} == set(three)
    assert len(select_sessions(store, everything=True)) == 3
    assert select_sessions(store) == []


def test_a_bulk_zip_imports_back_unchanged_with_kv(store: SessionStore, three: list[str], tmp_path: Path) -> None:
    calls: list[tuple[int, int, str]] = []
    result = export_bulk(store, three, tmp_path / "all.zip", progress=lambda *a: calls.append(a))
    assert (result.sessions, result.checkpoints, result.kv_files) == (3, 6, 1)
    assert [c[0] for c in calls] == [0, 1, 2, 3] and calls[0][2] == "Aria at the inn"

    into = SessionStore(tmp_path / "other")
    report = import_paths(into, [result.path])
    assert [item.status for item in report.items] == ["imported"] * 3
    for source_id, item in zip(three, report.items, strict=True):
        assert snapshot(into, item.session_id) == snapshot(store, source_id)
        assert into.get_session(item.session_id).origin == f"session-manager:{source_id}"

    again = import_paths(into, [result.path])
    assert [item.status for item in again.items] == ["skipped"] * 3
    home = import_paths(store, [result.path])  # into the store it came from
    assert [item.status for item in home.items] == ["skipped"] * 3 and len(store.list_sessions()) == 3


def test_without_kv_the_checkpoints_lose_only_their_kv_reference(store: SessionStore, three: list[str],
                                                                 tmp_path: Path) -> None:
    result = export_bulk(store, three[1:2], tmp_path / "no-kv.zip", include_kv=False)
    with zipfile.ZipFile(result.path) as archive:
        assert not [n for n in archive.namelist() if n.endswith(".kv")]
    into = SessionStore(tmp_path / "other")
    [item] = import_paths(into, [result.path]).items
    before = [c.model_dump(exclude={"kv"}) for c in store.list_checkpoints(three[1])]
    after = into.list_checkpoints(item.session_id)
    assert [c.model_dump(exclude={"kv"}) for c in after] == before and all(c.kv is None for c in after)


def test_an_archive_with_a_stray_path_is_refused_whole(store: SessionStore, three: list[str], tmp_path: Path) -> None:
    good = export_bulk(store, three, tmp_path / "good.zip").path
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(evil, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
        dst.writestr(f"sessions/{three[0]}/../../../outside.txt", "gotcha")
    into = SessionStore(tmp_path / "other")
    [item] = import_paths(into, [evil]).items
    assert item.status == "failed" and "unexpected file" in item.message
    assert into.list_sessions() == [] and not (tmp_path / "outside.txt").exists()


def test_one_broken_session_does_not_stop_the_others(store: SessionStore, three: list[str], tmp_path: Path) -> None:
    good = export_bulk(store, three, tmp_path / "good.zip").path
    hurt = tmp_path / "hurt.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(hurt, "w") as dst:
        for name in src.namelist():
            broken = name == f"sessions/{three[2]}/session.json"
            dst.writestr(name, b'{"id": 5}' if broken else src.read(name))
    into = SessionStore(tmp_path / "other")
    report = import_paths(into, [hurt])
    assert [item.status for item in report.items] == ["imported", "imported", "failed"]
    assert "'Haiku'" in report.items[2].source and "session.json is broken" in report.items[2].message
    assert len(into.list_sessions()) == 2


def test_a_truncated_archive_imports_nothing(store: SessionStore, three: list[str], tmp_path: Path) -> None:
    good = export_bulk(store, three, tmp_path / "good.zip").path
    cut = tmp_path / "cut.zip"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    into = SessionStore(tmp_path / "other")
    [item] = import_paths(into, [cut]).items
    assert item.status == "failed" and "not a readable zip" in item.message
    assert into.list_sessions() == []


def test_a_failed_export_leaves_no_half_file(store: SessionStore, three: list[str], tmp_path: Path) -> None:
    dest = tmp_path / "out.zip"
    dest.write_bytes(b"the previous backup")

    def interrupt(done: int, total: int, what: str) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_bulk(store, three, dest, progress=interrupt)
    assert dest.read_bytes() == b"the previous backup"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
