"""A checkpoint the store saves always imports back from its export: a larger save is refused in one line.

Both sides are checked at the boundary: a checkpoint exactly as large as the limit is saved and comes back
from its .json and .zip exports, read with the import's limit set to the same number; one character more is
refused by the store, the panel and an import (the API: tests/api), with nothing written and nothing saved
before lost. Small limits keep these quick; one test uses the real 16 MB limit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from factories import typed

from session_manager import cli
from session_manager.app.workspace import Workspace
from session_manager.errors import CheckpointTooLarge
from session_manager.formats.session_archive import ImportLimits, export_session, import_file
from session_manager.limits import MAX_CHECKPOINT_ENTRY_BYTES
from session_manager.models import Checkpoint, new_checkpoint_id, utcnow
from session_manager.store import SessionStore, entry_size

LIMIT = 200_000  # bytes of a checkpoint as an export holds it, in these tests


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(entry_size, "MAX_CHECKPOINT_ENTRY_BYTES", LIMIT)
    return LIMIT


def text_checkpoint(text: str) -> Checkpoint:
    return Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text="Once", output_text=text,
                      params={"temperature": 0.7, "seed": 3})


def chat_checkpoint(last_reply: str, turns: int = 1_000) -> Checkpoint:
    """A long chat of short messages: many lines in its file, each indented further in a .json export."""
    rows = [[f"line {n}", f"reply {n}"] for n in range(turns)]
    return Checkpoint(id=new_checkpoint_id(), created=utcnow(), mode="chat",
                      history={"internal": [*rows, ["and then?", last_reply]],
                               "visible": [*rows, ["and then?", "(a long reply)"]], "metadata": {}})


def size_of(checkpoint: Checkpoint) -> int:
    return entry_size.entry_size(checkpoint.model_dump_json(indent=2).encode("utf-8"))


def padded_to(limit: int, make: Any) -> tuple[Checkpoint, Checkpoint]:
    """(the checkpoint of exactly ``limit`` bytes as an export holds it, the same with one character more)."""
    pad = limit - size_of(make(""))
    assert pad > 0
    exact, over = make("x" * pad), make("x" * (pad + 1))
    assert size_of(exact) == limit and size_of(over) == limit + 1
    return exact, over


def session_with(store: SessionStore, *checkpoints: Checkpoint) -> str:
    session_id = store.create_session("Long work").id
    for checkpoint in checkpoints:
        store.add_checkpoint(session_id, checkpoint)
    return session_id


@pytest.mark.parametrize("make", [text_checkpoint, chat_checkpoint], ids=["text", "chat"])
def test_the_largest_checkpoint_a_save_accepts_imports_back_from_both_exports(
        tmp_path: Path, small_limit: int, make: Any) -> None:
    store = SessionStore(tmp_path / "store")
    exact, over = padded_to(small_limit, make)
    session_id = session_with(store, exact)
    before = store.checkpoint_ids(session_id)

    with pytest.raises(CheckpointTooLarge) as refused:
        store.add_checkpoint(session_id, over)
    message = str(refused.value)
    assert "\n" not in message and "this checkpoint is too large" in message and "nothing was saved" in message
    assert store.checkpoint_ids(session_id) == before
    assert sorted(p.name for p in store.layout.session(session_id).joinpath("checkpoints").iterdir()) == \
        [f"{before[0]}.json"]

    limits = ImportLimits(json_entry_bytes=small_limit)
    for fmt in ("json", "zip"):
        export = export_session(store, session_id, tmp_path / fmt, fmt)
        other = SessionStore(tmp_path / f"other-{fmt}")
        imported = import_file(other, export, limits)
        assert other.list_checkpoints(imported.id)[0].model_dump(exclude={"id"}) == exact.model_dump(exclude={"id"})


def test_the_real_limit_is_the_one_an_import_reads(tmp_path: Path) -> None:
    assert ImportLimits().json_entry_bytes == entry_size.MAX_CHECKPOINT_ENTRY_BYTES == MAX_CHECKPOINT_ENTRY_BYTES
    store = SessionStore(tmp_path / "store")
    exact, over = padded_to(MAX_CHECKPOINT_ENTRY_BYTES, text_checkpoint)
    session_id = session_with(store, exact)
    with pytest.raises(CheckpointTooLarge):
        store.add_checkpoint(session_id, over)
    export = export_session(store, session_id, tmp_path / "out", "json")
    imported = import_file(SessionStore(tmp_path / "other"), export)  # the import's own limits
    assert len(SessionStore(tmp_path / "other").list_checkpoints(imported.id)[0].output_text) == \
        len(exact.output_text)


def test_the_panel_refuses_a_save_too_large_and_the_page_keeps_its_text(workspace: Workspace,
                                                                        small_limit: int) -> None:
    page = typed(workspace.page("a"), "Once", "upon a time")
    first = workspace.save("a")
    assert first is not None
    long_text = "upon a time " * (small_limit // 10)
    typed(page, "Once", long_text)
    assert workspace.save("a") is None
    status = workspace.state("a").status
    assert status.startswith("Warning: Not saved: this checkpoint is too large: it is ") and "\n" not in status
    assert "move part of it into a new session" in status
    assert page.content.output_text == long_text and page.dirty
    assert workspace.store.checkpoint_ids(page.session_id) == [first]

    workspace.recorder.autosave_all()  # the timer's tick: the same refusal, the page still unsaved
    assert workspace.state("a").status.startswith("Warning: autosave failed: this autosave is too large")
    assert workspace.store.read_autosave(page.session_id) is None and page.dirty
    assert workspace.store.get_checkpoint(page.session_id, first).output_text == "upon a time"


def test_a_chat_too_large_to_import_back_is_not_imported(tmp_path: Path, small_limit: int) -> None:
    from formats.foreign import textgen_history, write_textgen_chat

    user_data = tmp_path / "user_data"
    write_textgen_chat(user_data, "Aria", "20240501-17-32-05", textgen_history([("Hi", "Hello!")]))
    long_chat = textgen_history([(f"line {n}", "a reply " * 40) for n in range(small_limit // 600)])
    big = write_textgen_chat(user_data, "Aria", "20240502-09-00-00", long_chat)
    root = tmp_path / "store"
    # The file alone (a session written on its own), then its folder (sessions written in a batch).
    for path, imported in ((big, 0), (user_data.parent, 1)):
        result = CliRunner().invoke(cli.cli, ["--data-dir", str(root), "import", str(path), "--json"])
        assert result.exit_code == 1, result.output
        report = json.loads(result.stdout)
        failed = [item for item in report["items"] if item["status"] == "failed"]
        assert report["imported"] == imported and len(failed) == 1 and big.stem in failed[0]["source"]
        message = failed[0]["message"]
        assert "a checkpoint is too large" in message and "nothing was imported from it" in message, message
        assert "\n" not in message
    assert len(SessionStore(root).list_sessions()) == 1

