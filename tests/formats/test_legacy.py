"""Session files of the original session_manager extension, read into bundles and imported."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from session_manager.errors import ImportFailed, NothingToImport
from session_manager.formats import import_paths
from session_manager.formats.common import Source
from session_manager.formats.legacy import read_legacy
from session_manager.store import SessionStore

from .foreign import LEGACY_STAMP, legacy_checkpoint, legacy_file_name, write_legacy

PROMPT = "Жили-были дед и баба. The keeper of the lighthouse"


def stamp(minute: int, second: int = 0) -> str:
    return datetime(2023, 11, 5, 14, minute, second).strftime(LEGACY_STAMP)


def local(minute: int, second: int = 0) -> datetime:
    return datetime(2023, 11, 5, 14, minute, second).astimezone()


def a_working_session(folder: Path) -> Path:
    """What the extension left after: New, Generate (stopped), Checkpoint by hand, a later autosave."""
    data = {
        stamp(0): legacy_checkpoint(None, None, None),  # new_session() saves an empty checkpoint at once
        stamp(1): legacy_checkpoint(PROMPT, None, None),  # input_modifier: before the reply exists
        stamp(2): legacy_checkpoint(PROMPT, " walked up the stairs.", None, temperature=1.1),  # output_modifier
        stamp(3): legacy_checkpoint(PROMPT, PROMPT + " walked up the stairs. Then", PROMPT + " walked up the "
                                    "stairs. Then", model="mistral-7b.Q4_K_M.gguf"),  # by hand: the whole box
        "auto_save": {"timestamp": stamp(4), "prompt": PROMPT, "reply": " walked up the stairs. Then night fell."},
    }
    return write_legacy(folder, legacy_file_name(stamp(0), PROMPT[:20]), data)


def test_a_session_keeps_its_checkpoints_texts_parameters_model_and_times(tmp_path: Path) -> None:
    path = a_working_session(tmp_path / "output")
    bundle = read_legacy(Source(path))

    assert bundle.meta.name == "Жили-были дед и баба"
    assert bundle.meta.created == local(0) and bundle.meta.updated == local(4)
    assert bundle.meta.origin and bundle.meta.origin.startswith("sha256:")
    start, stop, manual = bundle.checkpoints  # the empty first one is left out
    assert [c.created for c in bundle.checkpoints] == [local(1), local(2), local(3)]
    assert (start.input_text, start.output_text) == (PROMPT, "")
    assert stop.trigger == "stop" and stop.output_text == PROMPT + " walked up the stairs."
    assert manual.trigger == "manual" and manual.output_text == PROMPT + " walked up the stairs. Then"
    assert stop.params["temperature"] == 1.1 and stop.params["max_new_tokens"] == 200
    assert "output_textbox" not in stop.params and "n_ctx" not in stop.params and "loader" not in stop.params
    assert stop.model.name == "gemma-3.gguf" and stop.model.loader == "llama.cpp"
    assert stop.model.settings == {"n_ctx": 4096, "n_gpu_layers": 0}
    assert manual.model.name == "mistral-7b.Q4_K_M.gguf"
    autosave = bundle.autosave
    assert autosave is not None and autosave.trigger == "autosave" and autosave.created == local(4)
    assert autosave.output_text == PROMPT + " walked up the stairs. Then night fell."
    assert autosave.model == manual.model and autosave.params == manual.params  # as the extension restored it


@pytest.mark.parametrize(("stem", "name"), [
    (legacy_file_name(stamp(0), "Hello there, old friend"), "Hello there, old friend"),
    (legacy_file_name(stamp(0), ""), "Session of 2023-11-05 14:00:00"),
    (legacy_file_name(stamp(0), "x" * 40), "x" * 37),
    (legacy_file_name(stamp(0), "日本語のプロンプト"), "日本語のプロンプト"),
    ("my renamed session", "my renamed session"),
])
def test_names_come_from_the_file_name_without_the_padding(tmp_path: Path, stem: str, name: str) -> None:
    path = write_legacy(tmp_path, stem, {stamp(1): legacy_checkpoint("Hi", " there", None)})
    assert read_legacy(Source(path)).meta.name == name


@pytest.mark.parametrize(("content", "expected", "message"), [
    ({}, NothingToImport, "empty session: it has no checkpoints"),
    ({stamp(0): legacy_checkpoint(None, None, None)}, NothingToImport, "none of its 1 checkpoint(s) holds any text"),
    ([1, 2], ImportFailed, "not a session file"),
    ({"chapter one": {"prompt": "x"}}, ImportFailed, "expected checkpoints keyed by time"),
    ({stamp(0): {"prompt": "x", "reply": 5}}, ImportFailed, "has a reply that is not text"),
    ({stamp(0): {"prompt": "x", "parameters": []}}, ImportFailed, "parameters that are not an object"),
])
def test_empty_and_broken_files_say_why_in_one_line(tmp_path: Path, content: object, expected: type,
                                                     message: str) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps(content))
    with pytest.raises(expected) as caught:
        read_legacy(Source(path))
    assert type(caught.value) is expected
    assert message in str(caught.value) and "\n" not in str(caught.value) and "s.json" in str(caught.value)


def test_a_folder_of_sessions_imports_each_with_a_clear_result_and_only_once(store: SessionStore,
                                                                             tmp_path: Path) -> None:
    folder = tmp_path / "extensions" / "session_manager" / "output"
    good = a_working_session(folder)
    write_legacy(folder, legacy_file_name(stamp(5), ""), {stamp(5): legacy_checkpoint(None, None, None)})
    (folder / "2023-11-05@14-06-00_broken.json").write_text('{"2023-11-05@14-06-00": {"prompt": "cut')
    (folder / "settings.json").write_text(json.dumps({"verbose": False}))  # not a session: says so

    report = import_paths(store, [folder])

    by_status = {item.status: [] for item in report.items}
    for item in report.items:
        by_status[item.status].append(item)
    assert len(report.items) == 4
    [imported] = by_status["imported"]
    assert imported.source == good.name and imported.name == "Жили-были дед и баба"
    [empty] = by_status["skipped"]
    assert "empty session" in empty.message
    assert sorted(i.source for i in by_status["failed"]) == ["2023-11-05@14-06-00_broken.json", "settings.json"]
    assert all("\n" not in item.message for item in report.items)
    [row] = store.list_sessions()
    assert row.meta.created == local(0) and row.n_checkpoints == 3
    assert [c.created for c in store.list_checkpoints(row.meta.id)] == [local(3), local(2), local(1)]
    assert store.read_autosave(row.meta.id).created == local(4)

    again = import_paths(store, [good])
    assert [item.status for item in again.items] == ["skipped"]
    assert "already imported" in again.items[0].message
    assert len(store.list_sessions()) == 1
