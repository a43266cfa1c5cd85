"""textgen's own saved work: prompt files and chat histories, found by themselves and imported once."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from session_manager.formats import import_paths, import_textgen_work
from session_manager.models import HostLink
from session_manager.store import SessionStore

from .foreign import textgen_history, write_textgen_chat, write_textgen_prompt

EXCHANGES = [("Hi! Who are you?", "I'm Aria, <b>adventurer</b> & treasure hunter."),
             ("Tell me about the map", "It shows the old lighthouse.")]


@pytest.fixture
def work(user_data: Path) -> Path:
    """A textgen user_data folder after a while of use."""
    write_textgen_prompt(user_data, "2024-05-01_17h32m05s", "In this story,")  # textgen's starter prompt
    write_textgen_prompt(user_data, "Lighthouse", "The keeper climbed the stairs. At the top, he")
    write_textgen_prompt(user_data, "пустой", "")
    write_textgen_prompt(user_data, "Haiku ☃", "Snow on the branches\n")
    write_textgen_chat(user_data, "Aria", "20240501-17-32-05", textgen_history(EXCHANGES, greeting="Well, hello!"))
    write_textgen_chat(user_data, "Aria", "20240502-09-00-00", textgen_history([], greeting="Well, hello!"))
    write_textgen_chat(user_data, None, "20240503-10-00-00", textgen_history([("What is 2+2?", "4")]))
    old = {"data": [["Hello", "Hi there"]], "data_visible": [["Hello", "Hi there"]]}  # before 'internal'
    write_textgen_chat(user_data, "Old Friend", "my renamed chat", old)
    (user_data / "logs" / "chat" / "Aria" / "20240504-00-00-00.json").write_text('{"internal": [["cut')
    (user_data / "logs" / "chat_state.json").write_text('{"last_chats": {}}')
    return user_data


def test_prompts_and_chats_become_sessions_that_follow_them(store: SessionStore, work: Path) -> None:
    report = import_textgen_work(store, work.parent)  # the textgen folder itself

    assert report.summary() == "Imported 5, skipped 3, failed 1."
    skipped = {item.source: item.message for item in report.skipped}
    assert "starter text" in skipped["notebook/2024-05-01_17h32m05s.txt"]
    assert "is empty" in skipped["notebook/пустой.txt"]
    assert "only the character's greeting" in skipped["chat/Aria/20240502-09-00-00.json"]
    [failed] = report.failed
    assert failed.source == "chat/Aria/20240504-00-00-00.json" and "not valid JSON" in failed.message

    sessions = {row.meta.link.name: row.meta for row in store.list_sessions()}
    assert set(sessions) == {"Lighthouse", "Haiku ☃", "20240501-17-32-05", "20240503-10-00-00", "my renamed chat"}
    story = sessions["Lighthouse"]
    assert story.link == HostLink(kind="textgen-prompt", name="Lighthouse") and story.mode == "notebook"
    [checkpoint] = store.list_checkpoints(story.id)
    assert checkpoint.mode == "notebook" and checkpoint.input_text == "The keeper climbed the stairs. At the top, he"
    assert store.list_checkpoints(sessions["Haiku ☃"].id)[0].input_text == "Snow on the branches"  # as textgen loads it

    aria = sessions["20240501-17-32-05"]
    assert aria.name == "Hi! Who are you?" and aria.mode == "chat"
    assert aria.link == HostLink(kind="textgen-chat", name="20240501-17-32-05", character="Aria", chat_mode="chat")
    assert aria.created == datetime(2024, 5, 1, 17, 32, 5).astimezone()
    [chat] = store.list_checkpoints(aria.id)
    on_disk = json.loads((work / "logs" / "chat" / "Aria" / "20240501-17-32-05.json").read_text())
    assert chat.history == on_disk
    assert chat.chat.character == "Aria" and chat.chat.unique_id == "20240501-17-32-05"

    instruct = sessions["20240503-10-00-00"]
    assert instruct.link.chat_mode == "instruct" and instruct.link.character is None
    old = store.list_checkpoints(sessions["my renamed chat"].id)[0]
    assert sessions["my renamed chat"].name == "my renamed chat"
    assert old.history["internal"] == [["Hello", "Hi there"]] and old.history["metadata"] == {}


def test_importing_twice_adds_nothing_and_a_changed_chat_adds_its_new_state(store: SessionStore, work: Path) -> None:
    import_textgen_work(store, work)
    before = {row.meta.id: row.n_checkpoints for row in store.list_sessions()}

    again = import_textgen_work(store, work)
    assert again.taken == [] and len(again.skipped) == 8
    assert {row.meta.id: row.n_checkpoints for row in store.list_sessions()} == before

    grown = textgen_history([*EXCHANGES, ("And then?", "Then the storm came.")], greeting="Well, hello!")
    path = write_textgen_chat(work, "Aria", "20240501-17-32-05", grown)
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 60))
    third = import_textgen_work(store, work)
    [updated] = third.taken
    assert updated.status == "updated" and updated.source == "chat/Aria/20240501-17-32-05.json"
    newest = store.list_checkpoints(updated.session_id)[0]
    assert newest.history["internal"][-1] == ["And then?", "Then the storm came."]
    assert store.list_checkpoints(updated.session_id)[1].history["internal"][-1] == list(EXCHANGES[-1])
    assert len(store.list_sessions()) == len(before)


def test_a_prompt_the_extension_already_follows_is_left_to_it(store: SessionStore, user_data: Path) -> None:
    write_textgen_prompt(user_data, "Lighthouse", "The keeper climbed the stairs.")
    followed = store.create_session("my lighthouse")
    store.update_session(followed.id, link=HostLink(kind="textgen-prompt", name="Lighthouse"))

    report = import_textgen_work(store, user_data)
    [item] = report.items
    assert item.status == "skipped" and "already followed by the session 'my lighthouse'" in item.message
    assert len(store.list_sessions()) == 1


@pytest.mark.parametrize("where", ["root", "user_data", "logs"])
def test_the_folder_may_be_textgens_root_user_data_or_logs(store: SessionStore, work: Path, where: str) -> None:
    folder = {"root": work.parent, "user_data": work, "logs": work / "logs"}[where]
    assert len(import_paths(store, [folder]).taken) == 5


def test_a_folder_without_textgen_logs_says_where_it_looked(store: SessionStore, tmp_path: Path) -> None:
    report = import_textgen_work(store, tmp_path)
    [item] = report.items
    assert item.status == "failed" and "looked for user_data/logs and logs" in item.message


def test_links_and_fifos_in_the_logs_are_not_followed(store: SessionStore, user_data: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not textgen's")
    notebook = user_data / "logs" / "notebook"
    notebook.mkdir(parents=True)
    (notebook / "link.txt").symlink_to(secret)
    os.mkfifo(notebook / "pipe.txt")
    write_textgen_prompt(user_data, "real", "A real prompt")
    report = import_textgen_work(store, user_data)
    assert [item.source for item in report.items] == ["notebook/real.txt"]


def test_a_chat_file_given_by_itself_keeps_its_character(store: SessionStore, work: Path) -> None:
    path = work / "logs" / "chat" / "Aria" / "20240501-17-32-05.json"
    [item] = import_paths(store, [path]).items
    assert item.status == "imported"
    meta = store.get_session(item.session_id)
    assert meta.link.character == "Aria" and meta.origin == "textgen-chat:Aria/20240501-17-32-05"
