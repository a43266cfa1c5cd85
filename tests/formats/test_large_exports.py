"""This tool's own exports at scale: a .json export read checkpoint by checkpoint, limits refused in one line.

The files are made as a user makes them: a session exported with export_session, then its JSON
grown to thousands of checkpoints (unique ids in the checkpoint id format), as the issue reproduces it.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from session_manager.errors import ImportFailed
from session_manager.formats import import_paths
from session_manager.formats.session_archive import ImportLimits, export_session, import_file
from session_manager.models import Checkpoint, CheckpointMark, new_checkpoint_id, utcnow
from session_manager.store import SessionStore
from session_manager.store.layout import STAGING


def one_checkpoint_session(store: SessionStore) -> str:
    meta = store.create_session("Many pages")
    store.update_session(meta.id, tags=["long"], notes="grown by hand")
    store.add_checkpoint(meta.id, Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text="Once",
                                             output_text="Once upon a time"))
    return meta.id


def grown_export(store: SessionStore, folder: Path, count: int, big_text: int = 0) -> tuple[Path, list[dict]]:
    """The session's .json export, edited to hold ``count`` checkpoints (one of ``big_text`` characters)."""
    path = export_session(store, one_checkpoint_session(store), folder, "json")
    doc = json.loads(path.read_text(encoding="utf-8"))
    first = doc["checkpoints"][0]
    checkpoints = []
    for n in range(count):
        text = f"Page {n}: the keeper climbs, é 灯台 🌊" + ("x" * big_text if n == count // 2 else "")
        checkpoints.append({**first, "id": f"2025{n // 100_000 % 12 + 1:02d}01T{n // 3600 % 24:02d}"
                            f"{n // 60 % 60:02d}{n % 60:02d}{n % 1000:03d}Z-{n:06d}",
                            "output_text": text, "params": {"seed": n, "temperature": 0.5 + n / count}})
    doc["checkpoints"] = checkpoints
    doc["marks"] = {"format_version": 1, "marks": {checkpoints[-1]["id"]: {"pinned": True, "note": "the end"}}}
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    return path, checkpoints


def nothing_left(store: SessionStore, before: set[str]) -> None:
    assert {s.meta.id for s in store.list_sessions()} == before
    assert not [p for p in store.root.iterdir() if p.name.startswith(STAGING)]


def test_a_large_json_export_round_trips_whole(tmp_path: Path) -> None:
    # 3,000 checkpoints and one of 3 MB: values cross the 1 MB reads of the file and a read is made longer
    source = SessionStore(tmp_path / "source")
    path, written = grown_export(source, tmp_path / "out", 3_000, big_text=3 << 20)
    assert path.stat().st_size > 4 << 20
    store = SessionStore(tmp_path / "store")
    imported = import_file(store, path)
    assert imported.name == "Many pages" and imported.notes == "grown by hand"
    assert sorted(imported.tags) == ["imported", "long"]
    again = export_session(store, imported.id, tmp_path / "again", "json")
    back = json.loads(again.read_text(encoding="utf-8"))
    assert back["checkpoints"] == sorted(written, key=lambda c: c["id"])
    assert back["marks"]["marks"] == {written[-1]["id"]: CheckpointMark(pinned=True, note="the end").model_dump()}


def test_too_many_checkpoints_are_refused_in_one_line_with_nothing_written(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "store")
    path, _ = grown_export(store, tmp_path / "out", 300)
    before = {s.meta.id for s in store.list_sessions()}
    with pytest.raises(ImportFailed) as refused:
        import_file(store, path, ImportLimits(checkpoints=299))
    message = str(refused.value)
    assert "\n" not in message and "more than 299 checkpoints" in message and "nothing was imported" in message
    nothing_left(store, before)
    assert len(store.checkpoint_ids(import_file(store, path, ImportLimits(checkpoints=300)).id)) == 300


def test_a_too_long_checkpoint_is_refused_in_one_line_with_nothing_written(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "store")
    path, _ = grown_export(store, tmp_path / "out", 50, big_text=2 << 20)
    zipped = export_session(store, import_file(store, path).id, tmp_path / "zip", "zip")
    before = {s.meta.id for s in store.list_sessions()}
    limits = ImportLimits(json_entry_bytes=1 << 20)
    for export, says in ((path, "longer than 1,048,576 characters"), (zipped, "more than the 1,048,576 allowed")):
        with pytest.raises(ImportFailed) as refused:
            import_file(store, export, limits)
        message = str(refused.value)
        assert "\n" not in message and says in message and "export the session as Markdown" in message, message
        nothing_left(store, before)


def test_a_bad_last_checkpoint_leaves_nothing_imported(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "store")
    path, _ = grown_export(store, tmp_path / "out", 2_000)
    before = {s.meta.id for s in store.list_sessions()}
    text = path.read_text(encoding="utf-8")
    cut = text.rindex('"id": "') + len('"id": "')
    path.write_text(text[:cut] + "not-an-id-" + text[cut:], encoding="utf-8")
    with pytest.raises(ImportFailed, match=r"checkpoint 2,000: invalid id.*nothing was imported"):
        import_file(store, path)
    nothing_left(store, before)
    path.write_text(text[:-40], encoding="utf-8")  # cut off mid-write
    with pytest.raises(ImportFailed, match="not valid JSON"):
        import_file(store, path)
    nothing_left(store, before)


def test_a_zip_export_of_many_checkpoints_imports_them_all(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "store")
    path, written = grown_export(store, tmp_path / "out", 1_500)
    zipped = export_session(store, import_file(store, path).id, tmp_path / "zip", "zip")
    with zipfile.ZipFile(zipped) as archive:
        assert sum(name.startswith("checkpoints/") for name in archive.namelist()) == 1_500
    again = import_file(SessionStore(tmp_path / "other"), zipped)
    texts = [c.output_text for c in reversed(SessionStore(tmp_path / "other").list_checkpoints(again.id))]
    assert texts == [c["output_text"] for c in sorted(written, key=lambda c: c["id"])]


def test_an_export_edited_to_hold_its_session_last_is_still_found_already_imported(tmp_path: Path) -> None:
    # A JSON editor may write the keys in another order; a checkpoint longer than a session.json may be
    # (4 MB) stands before the session.
    path, _ = grown_export(SessionStore(tmp_path / "source"), tmp_path / "out", 50, big_text=5 << 20)
    doc = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({"checkpoints": doc.pop("checkpoints"), **doc}, ensure_ascii=False),
                    encoding="utf-8")
    store = SessionStore(tmp_path / "store")
    first = import_paths(store, [path])
    assert [item.status for item in first.items] == ["imported"], first.items
    before = {s.meta.id for s in store.list_sessions()}
    again = import_paths(store, [path])
    assert [(item.status, item.session_id) for item in again.items] == [("skipped", first.items[0].session_id)]
    assert again.items[0].message == f"{path.name} was already imported as 'Many pages'"
    nothing_left(store, before)
