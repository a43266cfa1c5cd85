"""Files as the users of SillyTavern, textgen, Open WebUI and the original extension really have them.

Each test reads a file in the exact shape the other program writes (see upstream.py for the places
in their code), through the command a user types.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from session_manager import cli
from session_manager.formats.messages import messages_from_history
from session_manager.formats.session_archive import export_session
from session_manager.formats.training import sample
from session_manager.store import SessionStore

from .foreign import legacy_checkpoint, open_webui_chat, write_legacy, write_open_webui
from .sessions import default_session
from .upstream import (
    UNUSED_HEADER,
    st_message,
    st_narrator,
    textgen_reply_history,
    write_st,
    write_textgen_json,
)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli.cli, list(args))


def import_into(root: Path, *paths: Path) -> Result:
    return invoke("import", *map(str, paths), "--data-dir", str(root))


def only_checkpoint(root: Path):  # noqa: ANN201 - a Checkpoint
    store = SessionStore(root)
    [row] = store.list_sessions()
    return store.list_checkpoints(row.meta.id)[0]


def test_a_2025_sillytavern_chat_takes_its_names_from_the_messages(tmp_path: Path) -> None:
    # item 1: the header says "unused" (public/script.js saveChat since 2025)
    chat = write_st(tmp_path / "chats" / "Seraphina" / "Seraphina - 2025-05-01@17h30m00s.jsonl",
                    [UNUSED_HEADER, st_message("Seraphina", "Welcome!", False, 30),
                     st_message("Ana", "Hi there", True, 31), st_message("Seraphina", "Sit down.", False, 32)])
    result = import_into(tmp_path / "store", chat)
    assert result.exit_code == 0, result.output
    checkpoint = only_checkpoint(tmp_path / "store")
    assert (checkpoint.chat.character, checkpoint.chat.user_name) == ("Seraphina", "Ana")
    assert checkpoint.model.name == "gemma-3-27b-it"


@pytest.mark.parametrize("header", [None, UNUSED_HEADER], ids=["2024-no-header", "2025-unused-header"])
def test_a_sillytavern_group_chat_keeps_who_spoke(tmp_path: Path, header: dict | None) -> None:
    # item 2: public/scripts/group-chats.js:514 (2024) wrote no header; 2025 writes the "unused" one
    rows = [st_message("Alice", "We should go north.", False, 30), st_message("Ana", "Why north?", True, 31),
            st_message("Bob", "Because the map says so.", False, 32),
            st_message("Alice", "And Bob is never wrong.", False, 33)]
    chat = write_st(tmp_path / "group chats" / "1714580000000.jsonl", ([header] if header else []) + rows)
    result = import_into(tmp_path / "store", chat)
    assert result.exit_code == 0, result.output
    checkpoint = only_checkpoint(tmp_path / "store")
    said = [(m.speaker, m.content) for m in messages_from_history(checkpoint.history)]
    assert said == [("Alice", "We should go north."), ("Ana", "Why north?"), ("Bob", "Because the map says so."),
                    ("Alice", "And Bob is never wrong.")]
    assert checkpoint.chat.character == "Alice, Bob" and checkpoint.chat.user_name == "Ana"
    assert "group chat" in SessionStore(tmp_path / "store").list_sessions()[0].meta.tags


def test_sillytavern_s_chats_folder_is_walked_and_an_empty_folder_fails(tmp_path: Path) -> None:
    # item 3: data/default-user/chats/<character>/*.jsonl and data/default-user/group chats/*.jsonl
    user = tmp_path / "data" / "default-user"
    write_st(user / "chats" / "Seraphina" / "a.jsonl", [UNUSED_HEADER, st_message("Seraphina", "Hello", False, 1)])
    write_st(user / "chats" / "Coding Sensei" / "b.jsonl", [UNUSED_HEADER, st_message("Coding Sensei", "Hi", False, 2)])
    write_st(user / "group chats" / "c.jsonl", [st_message("Alice", "Hey", False, 3)])
    (user / "settings.json").write_text("{}")
    result = import_into(tmp_path / "store", user / "chats")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "Imported 2."
    write_st(user / "backups" / "chat_seraphina_20250501-173000.jsonl", [UNUSED_HEADER,
                                                                          st_message("Seraphina", "Old", False, 1)])
    for given, store in ((user, "store2"), (tmp_path / "data", "store3")):  # the user folder, or all of data/
        result = import_into(tmp_path / store, given)
        assert result.exit_code == 0, result.output
        assert result.output.splitlines()[-1] == "Imported 3.", result.output
    (tmp_path / "nothing").mkdir()
    result = import_into(tmp_path / "store", tmp_path / "nothing")
    assert result.exit_code == 1
    assert "holds no file Session Manager reads" in result.output


def test_a_narrator_line_stays_a_narrator_line_and_gives_no_model(tmp_path: Path) -> None:
    # item 4: /sys (public/scripts/slash-commands.js:3216) has model "slash command"
    chat = write_st(tmp_path / "c.jsonl", [UNUSED_HEADER, st_message("Bo", "Hello.", False, 1, model="mistral-7b"),
                                           st_message("Ana", "Hi", True, 2), st_narrator("Night falls.", 3)])
    assert import_into(tmp_path / "store", chat).exit_code == 0
    checkpoint = only_checkpoint(tmp_path / "store")
    messages = messages_from_history(checkpoint.history)
    assert [(m.content, m.narrator) for m in messages] == [("Hello.", False), ("Hi", False), ("Night falls.", True)]
    assert checkpoint.model.name == "mistral-7b"
    exported = sample(checkpoint, "messages")["messages"]
    assert exported[-1] == {"role": "system", "content": "Night falls."}


def test_textgen_s_model_name_on_each_reply_is_the_checkpoint_s_model(tmp_path: Path) -> None:
    # item 5: modules/chat.py:1240
    user_data = tmp_path / "tg" / "user_data"
    write_textgen_json(user_data / "logs" / "chat" / "Aria" / "20250501-17-30-00.json",
                       textgen_reply_history("gemma-3-270m-it-Q4_K_M.gguf"))
    assert import_into(tmp_path / "store", tmp_path / "tg").exit_code == 0
    assert only_checkpoint(tmp_path / "store").model.name == "gemma-3-270m-it-Q4_K_M.gguf"
    listed = invoke("list", "--model", "gemma-3-270m", "--json", "--data-dir", str(tmp_path / "store"))
    assert len(json.loads(listed.output)) == 1


@pytest.mark.parametrize("file_name", ["Aria_persistent.json", "persistent_Aria.json"])
def test_textgen_s_old_persistent_chats_come_in_with_their_character(tmp_path: Path, file_name: str) -> None:
    # item 6: modules/chat.py:1864
    logs = tmp_path / "tg" / "logs"
    logs.mkdir(parents=True)
    (logs / file_name).write_text(json.dumps({"data": [["Hi", "Hello there"]],
                                              "data_visible": [["Hi", "Hello there"]]}, indent=4))
    for source, store in ((tmp_path / "tg", "folder"), (logs / file_name, "file")):
        result = import_into(tmp_path / store, source)
        assert result.exit_code == 0 and "Imported 1." in result.output, result.output
        assert only_checkpoint(tmp_path / store).chat.character == "Aria"


def test_the_original_extension_s_model_menu_and_notebook_text(tmp_path: Path) -> None:
    # item 7: textgen's 2023 interface state as the extension saved it
    entry = legacy_checkpoint("Once", " upon a time", None, gpu_memory_0=0, model_type="llama", pre_layer=0,
                              no_inject_fused_attention=False, **{"textbox-notebook": "A notebook story"})
    path = write_legacy(tmp_path / "output", "2023-06-01@10-00-00_Once", {"2023-06-01@10-00-00": entry})
    assert import_into(tmp_path / "store", path).exit_code == 0
    store = SessionStore(tmp_path / "store")
    [row] = store.list_sessions()
    checkpoints = sorted(store.list_checkpoints(row.meta.id), key=lambda c: c.id)
    assert [(c.mode, c.text) for c in checkpoints] == [("default", "Once upon a time"),
                                                       ("notebook", "A notebook story")]
    for key in ("gpu_memory_0", "model_type", "pre_layer", "no_inject_fused_attention"):
        assert key in checkpoints[0].model.settings and key not in checkpoints[0].params


def test_open_webui_empty_export_and_what_a_chat_keeps(tmp_path: Path) -> None:
    # item 8
    empty = write_open_webui(tmp_path / "chat-export-empty.json", [])
    result = import_into(tmp_path / "store", empty)
    assert result.exit_code == 0 and "holds no chats" in result.output, result.output
    chat = open_webui_chat("Trip", [("user", "Plan a trip"), ("assistant", "Go north.")])
    chat.update(archived=True, folder_id="f1", share_id="s1")
    chat["chat"]["params"] = {"temperature": 0.3, "max_tokens": 200, "seed": 7, "system": "Be brief."}
    assert import_into(tmp_path / "store", write_open_webui(tmp_path / "export.json", [chat])).exit_code == 0
    store = SessionStore(tmp_path / "store")
    [row] = store.list_sessions()
    checkpoint = store.list_checkpoints(row.meta.id)[0]
    assert "archived" in row.meta.tags
    assert checkpoint.params["temperature"] == 0.3 and checkpoint.params["max_new_tokens"] == 200
    assert checkpoint.seed == 7 and checkpoint.model.name == "llama3:8b"


def test_a_single_session_export_imported_twice_is_skipped(store: SessionStore, tmp_path: Path) -> None:
    # item 10
    session_id = default_session(store)
    for fmt in ("json", "zip"):
        export = export_session(store, session_id, tmp_path / fmt, fmt)
        root = tmp_path / f"other-{fmt}"
        assert import_into(root, export).output.splitlines()[-1] == "Imported 1."
        again = import_into(root, export)
        assert again.exit_code == 0 and again.output.splitlines()[-1] == "Skipped 1.", again.output
        assert "was already imported as 'Lighthouse'" in again.output
        assert len(SessionStore(root).list_sessions()) == 1


def test_export_json_says_what_was_left_out(store: SessionStore, tmp_path: Path) -> None:
    # item 11
    default_session(store)
    twin = store.create_session("Twin")
    store.add_checkpoint(twin.id, store.list_checkpoints(store.list_sessions()[-1].meta.id)[0])
    empty = store.create_session("Empty")
    result = invoke("export", "--all", "--format", "messages", "-o", str(tmp_path / "t.jsonl"), "--json",
                    "--data-dir", str(store.root))
    doc = json.loads(result.output)
    text = invoke("export", "--all", "--format", "messages", "-o", str(tmp_path / "u.jsonl"),
                  "--data-dir", str(store.root)).output
    assert doc["samples"] == 1 and doc["left_out"]["duplicates"] == 1, doc
    assert f"left out {doc['left_out']['duplicates']} duplicate" in text
    assert empty.id  # a session without checkpoints gives no line at all


@pytest.mark.parametrize(("name", "content", "message"), [
    ("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "photo.png is a PNG image, not a text file"),
    ("bad.jsonl", b'{"messages": []}\n{"messages": []}\n{"messages": []}\n{"messages": [}\n{"messages": []}',
     "bad.jsonl line 4 is not valid JSON (column 15)"),
])
def test_messages_say_what_the_file_is_and_where(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    # item 12
    path = tmp_path / name
    path.write_bytes(content)
    result = import_into(tmp_path / "store", path)
    assert result.exit_code == 1 and message in result.output, result.output


def test_a_failure_in_a_textgen_folder_names_the_character_folder(tmp_path: Path) -> None:
    # item 12
    chat = tmp_path / "tg" / "user_data" / "logs" / "chat" / "Aria" / "20250501-17-30-00.json"
    write_textgen_json(chat, {"internal": [["a", 5]], "visible": [["a", "5"]]})
    result = import_into(tmp_path / "store", tmp_path / "tg")
    assert "chat/Aria/20250501-17-30-00.json is not a textgen chat history" in result.output, result.output


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_files_with_a_bom_import_as_textgen_reads_them(tmp_path: Path, encoding: str) -> None:
    # item 12: modules/chat.py load_history reads json.loads(bytes), which takes UTF-16/32
    chat = tmp_path / "tg" / "logs" / "chat" / "Aria" / "c.json"
    chat.parent.mkdir(parents=True)
    text = json.dumps(textgen_reply_history("m"), indent=4, ensure_ascii=False)
    bom = {"utf-16-be": b"\xfe\xff"}.get(encoding, b"")
    chat.write_bytes(bom + text.encode(encoding))
    result = import_into(tmp_path / "store", chat)
    assert result.exit_code == 0 and "Imported 1." in result.output, result.output


def test_a_chat_cut_off_mid_write_gives_its_complete_messages(tmp_path: Path) -> None:
    # item 13: SillyTavern's last line cut off, textgen's JSON cut off in place, textgen's null file
    rows = [UNUSED_HEADER, st_message("Bo", "One", False, 1), st_message("Ana", "Two", True, 2),
            st_message("Bo", "Three", False, 3)]
    st = write_st(tmp_path / "st.jsonl", rows)
    st.write_bytes(st.read_bytes()[:-25])
    result = import_into(tmp_path / "store", st)
    assert result.exit_code == 0, result.output
    assert "left out line 4, which was cut off" in result.output
    assert [m.content for m in messages_from_history(only_checkpoint(tmp_path / "store").history)] == ["One", "Two"]

    history = {"internal": [["Hi", "Hello"], ["How are you?", "Fine, and you?"], ["Good", "Glad to hear"]],
               "visible": [["Hi", "Hello"], ["How are you?", "Fine, and you?"], ["Good", "Glad to hear"]],
               "metadata": {}}
    tg = write_textgen_json(tmp_path / "tg" / "logs" / "chat" / "Aria" / "20250501-17-30-00.json", history)
    text = tg.read_text()
    tg.write_text(text[:text.index("Glad to hear")])
    result = import_into(tmp_path / "store2", tg)
    assert result.exit_code == 0 and "the end of the file, which was cut off" in result.output, result.output
    checkpoint = only_checkpoint(tmp_path / "store2")
    assert checkpoint.history["internal"] == history["internal"][:2]
    assert checkpoint.history["visible"] == history["visible"][:2]

    tg.write_text("null")
    result = import_into(tmp_path / "store3", tg)
    assert result.exit_code == 0 and "holds only null" in result.output, result.output


def test_doctor_json_with_a_file_name_that_is_not_utf8(store: SessionStore, tmp_path: Path) -> None:
    # item 17: a strict UTF-8 stdout (PYTHONIOENCODING=utf-8, a UTF-8 desktop locale)
    default_session(store)
    (store.layout.sessions / os.fsdecode(b"stray-\xff.json")).write_bytes(b"{}")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONPATH": str(Path(cli.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", "from session_manager.cli import main; main()", "--data-dir",
                           str(store.root), "doctor", "--json"], capture_output=True, env=env, timeout=300, check=False)
    assert b"Traceback" not in done.stderr, done.stderr.decode(errors="replace")
    doc = json.loads(done.stdout)  # the name comes back exactly, as the JSON escape of its lone surrogate
    assert [f["path"] for f in doc["findings"]] == [str(store.layout.sessions / os.fsdecode(b"stray-\xff.json"))]


def test_a_json_export_with_a_bom_imports_and_long_queries_are_clipped(store: SessionStore, tmp_path: Path) -> None:
    # item 18
    export = export_session(store, default_session(store), tmp_path, "json")
    export.write_bytes(b"\xef\xbb\xbf" + export.read_bytes())
    result = import_into(tmp_path / "other", export)
    assert result.exit_code == 0 and "Imported 1." in result.output, result.output
    query = "x" * 150_000
    for args in (["list", "--search", query], ["export", "--search", query], ["show", query]):
        result = invoke(*args, "--data-dir", str(store.root))
        assert len(result.output) < 400, result.output[:400]


def test_a_zip_of_this_tool_keeps_its_origin(store: SessionStore, tmp_path: Path) -> None:
    # item 10: the origin a second import finds is written with the first
    session_id = default_session(store)
    export = export_session(store, session_id, tmp_path, "zip")
    with zipfile.ZipFile(export) as archive:
        assert json.loads(archive.read("session.json"))["id"] == session_id
    import_into(tmp_path / "other", export)
    [row] = SessionStore(tmp_path / "other").list_sessions()
    assert row.meta.origin == f"session-manager:{session_id}"
