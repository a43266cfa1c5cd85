"""Each file goes to the right reader by its content; this tool's own exports still import through transfer."""

from __future__ import annotations

import json
import os
import time
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from session_manager.errors import ImportFailed
from session_manager.formats import detect_format, export_bulk, import_paths
from session_manager.formats.session_archive import export_session
from session_manager.store import SessionStore
from session_manager.store.doctor import check_store

from .conftest import STAND_IN
from .foreign import (
    legacy_checkpoint,
    open_webui_chat,
    sillytavern_chat,
    textgen_history,
    write_jsonl,
    write_legacy,
    write_open_webui,
    write_textgen_chat,
    write_textgen_prompt,
)
from .sessions import default_session


def test_every_format_is_told_by_its_content(store: SessionStore, tmp_path: Path) -> None:
    lighthouse = default_session(store)
    files = {
        "session-manager": export_session(store, lighthouse, tmp_path / "ours", "json"),
        "session-manager-archive": export_bulk(store, [lighthouse], tmp_path / "many.zip").path,
        "legacy": write_legacy(tmp_path, "2023-11-05@14-00-00_x", {"2023-11-05@14-00-01":
                                                                    legacy_checkpoint("a", "b", None)}),
        "textgen": write_textgen_chat(tmp_path / "ud", "Aria", "20240501-17-32-05",
                                      textgen_history([("hi", "hello")])),
        "sillytavern": write_jsonl(tmp_path / "st.jsonl", sillytavern_chat("Ana", "Bo", [(True, "hi")])),
        "open-webui": write_open_webui(tmp_path / "owu.json", [open_webui_chat("t", [("user", "hi")])]),
        "training": write_jsonl(tmp_path / "no-suffix-dataset.data", [
            {"messages": [{"role": "user", "content": "hi"}]}, {"messages": [{"role": "user", "content": "yo"}]}]),
        "training-array": tmp_path / "array.json",
    }
    files["training-array"].write_text(json.dumps([{"prompt": "a", "completion": "b"}]))
    assert {fmt: detect_format(path) for fmt, path in files.items()} == {fmt: fmt for fmt in files}
    assert detect_format(write_textgen_prompt(tmp_path / "ud", "p", "text")) == "textgen"
    assert detect_format(export_session(store, lighthouse, tmp_path / "ours", "zip")) == "session-manager"


def test_this_tools_single_session_exports_still_import(store: SessionStore, tmp_path: Path) -> None:
    lighthouse = default_session(store)
    files = [export_session(store, lighthouse, tmp_path, fmt) for fmt in ("zip", "json")]
    into = SessionStore(tmp_path / "other")
    report = import_paths(into, files)
    assert [item.status for item in report.items] == ["imported", "imported"]
    assert {row.meta.name for row in into.list_sessions()} == {"Lighthouse"}


@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty.json", b"", "empty.json is empty"),
    ("latin1.json", "{\"é\": 1}".encode("latin-1"), "not UTF-8"),
    ("other.zip", None, "not a Session Manager archive"),
    ("notes.jsonl", b'{"title": "a"}\n{"title": "b"}\n', "not a format Session Manager reads"),
    ("deep.json", b"[" * 100_000, "nested too deeply"),
])
def test_files_no_reader_takes_say_why(tmp_path: Path, name: str, content: bytes | None, message: str) -> None:
    path = tmp_path / name
    if content is None:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("photo.jpg", b"\xff\xd8")
    else:
        path.write_bytes(content)
    with pytest.raises(ImportFailed, match=message):
        detect_format(path)


def test_local_times_follow_the_machines_time_zone(store: SessionStore, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        path = write_legacy(tmp_path, "2023-11-05@14-00-00_x", {"2023-07-01@09-30-00": legacy_checkpoint("a", "b",
                                                                                                       None)})
        [item] = import_paths(store, [path]).items
        created = store.list_checkpoints(item.session_id)[0].created
        assert created.isoformat() == "2023-07-01T13:30:00+00:00"  # 09:30 EDT
    finally:
        monkeypatch.undo()
        time.tzset()


def test_imported_sessions_pass_doctor(store: SessionStore, tmp_path: Path) -> None:
    user_data = tmp_path / "ud"
    write_textgen_prompt(user_data, "p", "A prompt")
    write_textgen_chat(user_data, "Aria", "20240501-17-32-05", textgen_history([("hi", "hello")], greeting="Hey"))
    bulk = export_bulk(store, [default_session(store)], tmp_path / "b.zip").path
    into = SessionStore(tmp_path / "other")
    assert len(import_paths(into, [user_data, bulk]).taken) == 3
    assert [f for f in check_store(into) if f.severity != "info"] == []
    assert [p.name for p in into.root.iterdir() if p.name.startswith(".import-")] == []


@pytest.mark.skipif(STAND_IN, reason="needs SessionStore.add_bundle, which verifies KV blobs (the store's work)")
def test_a_damaged_kv_snapshot_in_an_archive_is_dropped_and_the_text_kept(store: SessionStore, tmp_path: Path) -> None:
    lighthouse = default_session(store)
    good = export_bulk(store, [lighthouse], tmp_path / "good.zip").path
    hurt = tmp_path / "hurt.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(hurt, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, data[:-10] + b"\x00" * 10 if name.endswith(".kv") else data)
    into = SessionStore(tmp_path / "other")
    [item] = import_paths(into, [hurt]).items
    assert item.status == "imported"
    checkpoints = into.list_checkpoints(item.session_id)
    assert len(checkpoints) == 2 and all(c.kv is None for c in checkpoints)
    assert into.kv_bytes(item.session_id) == 0


def test_times_of_textgen_prompts_are_their_files_times(store: SessionStore, tmp_path: Path) -> None:
    path = write_textgen_prompt(tmp_path / "ud", "dated", "Some text")
    moment = datetime(2024, 2, 29, 8, 15).timestamp()
    os.utime(path, (moment, moment))
    [item] = import_paths(store, [tmp_path / "ud"]).items
    assert store.list_checkpoints(item.session_id)[0].created.timestamp() == moment
