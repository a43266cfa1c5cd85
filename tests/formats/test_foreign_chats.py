"""SillyTavern chats and Open WebUI exports, written as those programs write them."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from session_manager.errors import ImportFailed, NothingToImport
from session_manager.formats import detect_format, import_paths
from session_manager.formats.common import Source
from session_manager.formats.openwebui import read_open_webui
from session_manager.formats.sillytavern import read_sillytavern
from session_manager.formats.training import chat_messages
from session_manager.store import SessionStore

from .foreign import open_webui_chat, sillytavern_chat, write_jsonl, write_open_webui

TALK = [(False, "*waves* Welcome to the Rusty Anchor!"), (True, "Hi Seraphina — any rooms free?"),
        (False, "One, up the stairs. <b>Mind the cat</b>."), (True, "Thanks!")]


def test_a_sillytavern_chat_is_one_chat_session(tmp_path: Path) -> None:
    rows = sillytavern_chat("Ana", "Seraphina", TALK)
    rows.insert(3, {"name": "Narrator", "is_user": False, "is_system": True, "send_date": "May 1, 2024 5:40pm",
                    "mes": "(hidden note)", "extra": {"type": "narrator"}})
    path = write_jsonl(tmp_path / "chats" / "Seraphina" / "Seraphina - 2024-5-1 @17h 30m 00s 000ms.jsonl", rows)
    assert detect_format(path) == "sillytavern"

    bundle = read_sillytavern(Source(path))
    [checkpoint] = bundle.checkpoints
    assert [(m.role, m.content) for m in chat_messages(checkpoint)] == [
        ("assistant", TALK[0][1]), ("user", TALK[1][1]), ("assistant", TALK[2][1]), ("user", TALK[3][1])]
    assert checkpoint.history["internal"][0] == ["<|BEGIN-VISIBLE-CHAT|>", TALK[0][1]]
    assert checkpoint.history["visible"][1][1] == "One, up the stairs. &lt;b&gt;Mind the cat&lt;/b&gt;."
    assert checkpoint.chat.character == "Seraphina" and checkpoint.chat.user_name == "Ana"
    assert checkpoint.model.name == "gemma-3.gguf"
    assert checkpoint.created == datetime(2024, 5, 1, 17, 34).astimezone()  # the last message
    assert bundle.meta.created == datetime(2024, 5, 1, 17, 30).astimezone()  # the header's create_date
    assert bundle.meta.name == "Seraphina - 2024-5-1 @17h 30m 00s 000ms"


@pytest.mark.parametrize("send_date", ["2024-05-01T17:31:00.000Z", 1714584660000, "2024-5-1 @17h 31m 00s 000ms"])
def test_sillytavern_message_times_of_every_era(tmp_path: Path, send_date: object) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", sillytavern_chat("Ana", "Bo", [(True, "hi"), (False, "yo")],
                                                              dates=[send_date, send_date]))
    when = read_sillytavern(Source(path)).checkpoints[0].created
    assert when.astimezone(timezone.utc).replace(tzinfo=None) >= datetime(2024, 5, 1, 0, 0)
    assert when.year == 2024 and when.month == 5


@pytest.mark.parametrize(("rows", "expected", "message"), [
    ([{"user_name": "Ana", "character_name": "Bo", "create_date": "x"}], NothingToImport, "empty chat"),
    ([{"name": "Ana", "mes": "no header"}], ImportFailed, "first line is not a header"),
    ([{"user_name": "Ana", "character_name": "Bo"}, {"name": "Ana", "is_user": True}], ImportFailed,
     "line 2 is not a SillyTavern message"),
])
def test_sillytavern_files_that_cannot_be_chats_say_why(tmp_path: Path, rows: list, expected: type,
                                                        message: str) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", rows)
    with pytest.raises(expected, match=message):
        read_sillytavern(Source(path))


def test_an_open_webui_export_imports_the_branch_on_show(tmp_path: Path) -> None:
    chat = open_webui_chat("Trip to Lisbon ✈", [("user", "Plan 3 days in Lisbon"), ("assistant", "Day 1: Alfama")],
                           system="You are a travel agent.")
    tree = chat["chat"]["history"]["messages"]
    first_reply = chat["chat"]["history"]["currentId"]
    retry = {**tree[first_reply], "id": "retry-1", "content": "Day 1: Belém, pastéis de nata"}
    tree["retry-1"] = retry
    tree[retry["parentId"]]["childrenIds"].append("retry-1")
    chat["chat"]["history"]["currentId"] = "retry-1"  # the user regenerated and kept the second answer
    path = write_open_webui(tmp_path / "chat-export-1714590000000.json", [chat])
    assert detect_format(path) == "open-webui"

    [(label, bundle)] = read_open_webui(Source(path))
    assert label == "chat-export-1714590000000.json #1 'Trip to Lisbon ✈'"
    [checkpoint] = bundle.checkpoints
    assert [(m.role, m.content) for m in chat_messages(checkpoint)] == [
        ("system", "You are a travel agent."), ("user", "Plan 3 days in Lisbon"),
        ("assistant", "Day 1: Belém, pastéis de nata")]
    assert checkpoint.chat.chat_mode == "instruct" and checkpoint.model.name == "llama3:8b"
    assert checkpoint.params == {"custom_system_message": "You are a travel agent."}
    assert bundle.meta.name == "Trip to Lisbon ✈" and bundle.meta.tags == ["imported", "work"]
    assert bundle.meta.created == datetime.fromtimestamp(1714584000, timezone.utc)
    assert checkpoint.created == datetime.fromtimestamp(1714587600, timezone.utc)
    assert bundle.meta.origin == f"open-webui:{chat['id']}"


def test_an_export_of_all_chats_gives_each_its_own_result(store: SessionStore, tmp_path: Path) -> None:
    good = open_webui_chat("Recipes", [("user", "Pancakes?"), ("assistant", "Flour, eggs, milk.")])
    empty = open_webui_chat("Untitled", [])
    broken = open_webui_chat("Broken", [("user", "hello")])
    broken["chat"]["history"] = {}
    broken["chat"]["messages"] = [{"role": "wizard", "content": "?"}]
    path = write_open_webui(tmp_path / "all-chats.json", [good, empty, broken])

    report = import_paths(store, [path])
    assert [item.status for item in report.items] == ["imported", "skipped", "failed"]
    assert "empty chat" in report.items[1].message and "'Untitled'" in report.items[1].source
    assert "no user, assistant or system role" in report.items[2].message
    assert [row.meta.name for row in store.list_sessions()] == ["Recipes"]
    again = import_paths(store, [path])
    assert [item.status for item in again.items] == ["skipped", "skipped", "failed"]


def test_a_json_file_of_no_known_shape_is_refused_by_name(store: SessionStore, tmp_path: Path) -> None:
    path = tmp_path / "package.json"
    path.write_text(json.dumps({"name": "left-pad", "version": "1.3.0"}))
    [item] = import_paths(store, [path]).items
    assert item.status == "failed" and "package.json is not a format Session Manager reads" in item.message
