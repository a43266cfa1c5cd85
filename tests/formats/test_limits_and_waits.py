"""No traceback in any message, one set of limits for writers and readers, and a writer that says it waits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from session_manager import cli
from session_manager.errors import InvalidValue
from session_manager.formats.session_archive import export_session
from session_manager.limits import MAX_NAME_LENGTH, MAX_NOTES_CHARS, MAX_TAGS
from session_manager.store import SessionStore

from .foreign import open_webui_chat, write_open_webui
from .sessions import default_session

# What a Python error says when it leaks into a message.
PYTHON_WORDS = ("TypeError", "ValueError", "KeyError", "unhashable", "Exceeds the limit", "object is not",
                "Traceback", "could not be read (")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli.cli, list(args))


def import_into(root: Path, path: Path) -> Result:
    result = invoke("import", str(path), "--data-dir", str(root))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert not any(word in result.output for word in PYTHON_WORDS), result.output
    return result


def owui(**changes: object) -> dict:
    chat = open_webui_chat("Trip", [("user", "Plan a trip"), ("assistant", "Go north.")])
    for dotted, value in changes.items():
        target = chat
        *path, last = dotted.split("__")
        for key in path:
            target = target[key]
        target[last] = value
    return chat


@pytest.mark.parametrize("chat", [owui(meta__tags=5), owui(chat__history__currentId=["m2"]), owui(created_at=-1),
                                  owui(updated_at=253402300799), owui(chat__params=[1]), owui(title=5)],
                         ids=["tags-5", "currentId-list", "created-minus-1", "year-9999", "params-list", "title-5"])
def test_open_webui_values_of_the_wrong_kind_give_a_session_or_a_reason(tmp_path: Path, chat: dict) -> None:
    # item 14
    result = import_into(tmp_path / "store", write_open_webui(tmp_path / "e.json", [chat]))
    assert result.exit_code == 0, result.output
    for row in SessionStore(tmp_path / "store").list_sessions():
        assert 1970 <= row.meta.created.year <= 3000


@pytest.mark.parametrize("text", [
    '{"internal": [["a", "b"]], "visible": [["a", "b"]], "metadata": {"x": ' + "9" * 5000 + "}}",
    '{"session_manager_export": 1, "session": {"id": ' + "1" * 5000 + "}}",
    '{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], '
    '"metadata": {"params": "temperature=1"}}',
    '{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], '
    '"metadata": {"created": "9999-12-31T23:59:59+00:00", "seed": "x"}}',
], ids=["5000-digits-textgen", "5000-digits-own-json", "params-a-string", "seed-a-string"])
def test_hostile_numbers_and_fields_give_one_line_that_names_the_field(tmp_path: Path, text: str) -> None:
    # item 14
    path = tmp_path / ("t.jsonl" if text.startswith('{"messages"') else "t.json")
    path.write_text(text)
    result = import_into(tmp_path / "store", path)
    assert result.exit_code == 1, result.output
    assert "number too long" in result.output or "metadata." in result.output or "not valid JSON" in \
        result.output, result.output


def test_what_the_writer_accepts_the_reader_reads(store: SessionStore, tmp_path: Path) -> None:
    # item 15: a JSON export whose name or notes is 5,000,000 characters is refused at the door
    session_id = default_session(store)
    export = export_session(store, session_id, tmp_path, "json")
    original = export.read_text()
    for field in ("name", "notes"):
        doc = json.loads(original)
        doc["session"][field] = "x" * 5_000_000
        export.write_text(json.dumps(doc))
        result = import_into(tmp_path / f"other-{field}", export)
        assert result.exit_code == 1 and f"session.{field}" in result.output, result.output[:300]
        assert len(result.output) < 1000
    with pytest.raises(InvalidValue, match=f"at most {MAX_NOTES_CHARS:,} characters"):
        store.update_session(session_id, notes="x" * 5_000_000)
    with pytest.raises(InvalidValue, match=f"at most {MAX_TAGS} tags"):
        store.update_session(session_id, tags=[f"t{n}" for n in range(MAX_TAGS + 1)])
    store.update_session(session_id, notes="x" * MAX_NOTES_CHARS, tags=[f"t{n}" for n in range(MAX_TAGS)])
    assert len(store.rename_session(session_id, "y" * 5000).name) == MAX_NAME_LENGTH
    reread = SessionStore(store.root)
    assert reread.get_session(session_id).notes == "x" * MAX_NOTES_CHARS
    assert invoke("doctor", "--data-dir", str(store.root)).exit_code == 0


def test_a_writer_that_waits_for_another_process_says_so_and_for_whom(store: SessionStore, tmp_path: Path) -> None:
    # item 19: a second process holds the store's lock until it is told to let go
    go = tmp_path / "let-go"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time, pathlib\n"
         "from session_manager.store import SessionStore\n"
         "store = SessionStore(pathlib.Path(sys.argv[1]))\n"
         "with store.locked():\n"
         "    print('holding', flush=True)\n"
         "    while not pathlib.Path(sys.argv[2]).exists(): time.sleep(0.05)\n", str(store.root), str(go)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(Path(cli.__file__).parents[1])})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        prompt = tmp_path / "p.txt"
        prompt.write_text("A prompt to import")
        waiter = subprocess.Popen(
            [sys.executable, "-c", "from session_manager.cli import main; main()", "--data-dir", str(store.root),
             "import", str(prompt)], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(Path(cli.__file__).parents[1])})
        assert waiter.stderr is not None
        line = waiter.stderr.readline()
        assert f"waiting for the store at {store.root}: process {holder.pid}" in line, line
        go.touch()
        out, _ = waiter.communicate(timeout=300)
        assert waiter.returncode == 0 and "Imported 1." in out
    finally:
        go.touch()
        holder.wait(timeout=60)
