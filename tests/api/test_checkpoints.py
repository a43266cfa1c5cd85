"""Checkpoints through the API: add a text or a chat with parameters and model, list, read, mark, restore."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from session_manager.recording.recorder import Recorder
from session_manager.store import SessionStore, entry_size

from .conftest import BASE, MakeClient, add_text, error_of, new_session

HISTORY = {"internal": [["Hello", "Hi! How can I help?"]], "visible": [["Hello", "Hi! How can I help?"]]}
MODEL = {"name": "gemma-3-270m.gguf", "loader": "llama.cpp", "settings": {"ctx_size": 4096}}


def test_text_and_chat_checkpoints_are_saved_with_parameters_and_model(client: TestClient,
                                                                       store: SessionStore) -> None:
    session = new_session(client)
    text = add_text(client, session["id"], "Once upon a time", input_text="Once", params={"temperature": 0.7},
                    model=MODEL, label="opening", seed=42)
    chat = client.post(f"{BASE}/sessions/{session['id']}/checkpoints",
                       json={"mode": "chat", "history": HISTORY, "chat": {"character": "Assistant"}}).json()
    saved = store.get_checkpoint(session["id"], text["id"])
    assert (saved.output_text, saved.params, saved.model.name, saved.label, saved.seed) == (
        "Once upon a time", {"temperature": 0.7}, "gemma-3-270m.gguf", "opening", 42)
    assert store.get_checkpoint(session["id"], chat["id"]).history == HISTORY

    rows = client.get(f"{BASE}/sessions/{session['id']}/checkpoints").json()["checkpoints"]
    assert [row["id"] for row in rows] == [chat["id"], text["id"]]
    assert rows[1]["label"] == "opening" and rows[1]["model"] == "gemma-3-270m.gguf"
    read = client.get(f"{BASE}/sessions/{session['id']}/checkpoints/{text['id']}").json()
    assert read["params"] == {"temperature": 0.7} and read["kv_present"] is False
    assert client.get(f"{BASE}/sessions/{session['id']}/checkpoints/latest").json()["id"] == chat["id"]
    assert client.get(f"{BASE}/sessions/{session['id']}").json()["checkpoints"] == 2


def test_a_checkpoint_can_be_pinned_relabelled_annotated_and_deleted(client: TestClient,
                                                                     store: SessionStore) -> None:
    session = new_session(client)
    cp = add_text(client, session["id"], "text")
    url = f"{BASE}/sessions/{session['id']}/checkpoints/{cp['id']}"
    assert client.patch(url, json={"pinned": True, "label": "best", "note": "keep"}).json() == {
        "pinned": True, "note": "keep", "label": "best"}
    mark = store.marks(session["id"]).marks[cp["id"]]
    assert (mark.pinned, mark.label, mark.note) == (True, "best", "keep")
    assert client.delete(url).status_code == 204
    assert store.checkpoint_ids(session["id"]) == []
    error_of(client.get(url), 404, "not_found")


def test_a_bad_checkpoint_is_refused_and_nothing_is_written(client: TestClient, store: SessionStore) -> None:
    session = new_session(client)
    url = f"{BASE}/sessions/{session['id']}/checkpoints"
    assert "history" in error_of(client.post(url, json={"mode": "chat"}), 400, "bad_request")
    error_of(client.post(url, json={"mode": "default", "history": HISTORY}), 400, "bad_request")
    lone_surrogate = b'{"output_text": "\\ud800"}'  # valid JSON, no valid text
    error_of(client.post(url, content=lone_surrogate, headers={"Content-Type": "application/json"}), 400,
             "bad_request")
    error_of(client.post(url, json={"output_text": "x", "kv": {"file": "../../x.kv"}}), 400, "bad_request")
    for chat in ({"unique_id": "../../../settings"}, {"character": "../Assistant"}, {"unique_id": "a\\b"},
                 {"character": ".."}):
        message = error_of(client.post(url, json={"mode": "chat", "history": HISTORY, "chat": chat}), 400,
                           "bad_request")
        assert "plain name" in message
    error_of(client.post(f"{BASE}/sessions/20990101T000000Z-zzzzzz/checkpoints", json={"output_text": "x"}), 404,
             "not_found")
    error_of(client.get(f"{url}/latest"), 404, "not_found")
    assert store.checkpoint_ids(session["id"]) == []


def test_restore_and_kv_snapshots_without_a_model_here_say_where_they_work(client: TestClient,
                                                                            store: SessionStore) -> None:
    session = new_session(client)
    cp = add_text(client, session["id"], "text")
    message = error_of(client.post(f"{BASE}/sessions/{session['id']}/checkpoints/{cp['id']}/restore", json={}),
                       501, "no_engine")
    assert "--api" in message
    error_of(client.post(f"{BASE}/sessions/{session['id']}/checkpoints", json={"output_text": "more",
                                                                            "kv_snapshot": True}), 501, "no_engine")
    assert store.checkpoint_ids(session["id"]) == [cp["id"]]


def test_a_kv_snapshot_the_engine_cannot_give_leaves_the_text_saved_and_says_why(make_client: MakeClient,
                                                                                 recorder: Recorder) -> None:
    client = make_client(engine=True)
    session = new_session(client)
    url = f"{BASE}/sessions/{session['id']}/checkpoints"
    saved = client.post(url, json={"output_text": "A text", "kv_snapshot": True}).json()
    assert saved["kv"] is None and saved["kv_present"] is False and "no KV snapshot" in saved["kv_note"]
    assert recorder.store.get_checkpoint(session["id"], saved["id"]).output_text == "A text"
    recorder.host.generating = True
    error_of(client.post(url, json={"output_text": "B", "kv_snapshot": True}), 409, "generation_running")
    assert len(recorder.store.checkpoint_ids(session["id"])) == 1


def test_restore_makes_the_checkpoint_the_present_and_loads_its_model_when_asked(
        make_client: MakeClient, recorder: Recorder, store: SessionStore) -> None:
    client = make_client(engine=True)
    session = new_session(client)
    old = add_text(client, session["id"], "The first version", params={"temperature": 0.3}, model=MODEL)
    add_text(client, session["id"], "A second version")
    url = f"{BASE}/sessions/{session['id']}/checkpoints/{old['id']}/restore"

    done = client.post(url, json={"load_model": True}).json()
    assert done["output_text"] == "The first version" and done["params"] == {"temperature": 0.3}
    assert done["model_loaded"] == MODEL["name"] and recorder.host.model_info().name == MODEL["name"]
    assert store.latest_state(session["id"]).output_text == "The first version"  # a restart brings it back

    recorder.host.generating = True
    error_of(client.post(url, json={}), 409, "generation_running")
    recorder.host.generating = False
    assert client.post(url).status_code == 200  # the body is optional


def test_a_checkpoint_too_large_to_import_back_is_refused_with_its_reason(
        client: TestClient, store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entry_size, "MAX_CHECKPOINT_ENTRY_BYTES", 20_000)  # the real one is 16 MB
    session = new_session(client)
    kept = add_text(client, session["id"], "kept")
    response = client.post(f"{BASE}/sessions/{session['id']}/checkpoints",
                           json={"mode": "default", "output_text": "x" * 20_001})
    message = error_of(response, 400, "invalid_value")
    assert message.startswith("this checkpoint is too large: it is ") and "nothing was saved" in message
    assert store.checkpoint_ids(session["id"]) == [kept["id"]]
