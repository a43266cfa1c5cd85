"""The sessions API on the real textgen's own API server (--api, --api-key): list, create, add, restore.

A checkpoint added with its KV snapshot and restored through the API puts that snapshot back into textgen's
llama-server, so that the next completion through textgen's OpenAI-compatible API reads only what is new
(llama-server's counters tell). No browser: this is what a script or an API client does.
"""

from __future__ import annotations

import json
import time

import httpx

from .textgen_server import SECOND_MODEL_FILE, TextgenServer

KEY = "textgen-test-key"
TEXTGEN = {"api": True, "api_key": KEY, "extra_flags": "--metrics",
           "settings": {"auto_max_new_tokens": False, "max_new_tokens": 24}}
BASE = "/session-manager/v1"
PARAGRAPH = ("The harbour town woke slowly that winter morning. Fishermen mended their nets on the quay, "
             "gulls argued over scraps, and the baker opened his shutters to let the smell of warm bread drift "
             "down the cobbled lanes towards the grey and restless sea. ")
LONG_PROMPT = PARAGRAPH * 16  # about 800 tokens: re-reading them shows in llama-server's counters
TAIL_TOKENS = 16
API_START_S = 120


def api_client(textgen: TextgenServer, key: str | None = KEY) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=f"http://127.0.0.1:{textgen.api_port}", headers=headers, timeout=180)


def wait_for_api(client: httpx.Client) -> None:
    """textgen starts its API server just after the extensions' setup(): wait until it answers."""
    deadline = time.monotonic() + API_START_S
    while True:
        try:
            if client.get(BASE).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "textgen's API did not answer"
        time.sleep(0.2)


def test_sessions_are_served_on_textgens_api_port_behind_its_key(textgen: TextgenServer) -> None:
    api = api_client(textgen)
    wait_for_api(api)
    assert api.get(BASE).json()["restore"] is True
    assert api_client(textgen, None).get(f"{BASE}/sessions").status_code == 401
    wrong = api_client(textgen, "guess").get(f"{BASE}/sessions")
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "forbidden"
    assert f"{BASE}/sessions" in api.get("/openapi.json").json()["paths"]  # textgen's own /docs list them

    session = api.post(f"{BASE}/sessions", json={"name": "From a script", "tags": ["api"]}).json()
    text = "A lighthouse stood on the cliff."
    cp = api.post(f"{BASE}/sessions/{session['id']}/checkpoints",
                  json={"mode": "notebook", "output_text": text, "params": {"temperature": 0.2}}).json()
    found = api.get(f"{BASE}/sessions", params={"q": "lighthouse"}).json()["sessions"]
    assert [row["id"] for row in found] == [session["id"]]
    assert textgen.store().get_checkpoint(session["id"], cp["id"]).output_text == text  # in textgen's store

    done = api.post(f"{BASE}/sessions/{session['id']}/checkpoints/{cp['id']}/restore", json={})
    assert done.status_code == 200, done.text
    assert done.json()["output_text"] == text and done.json()["params"] == {"temperature": 0.2}
    assert textgen.store().latest_state(session["id"]).output_text == text
    # textgen's own routes still answer with the same key.
    assert api.get("/v1/models").status_code == 200


def test_a_snapshot_kept_and_restored_through_the_api_spares_the_next_request_rereading(
        textgen: TextgenServer) -> None:
    """A script keeps a long completion with its KV cache; after a textgen restart it restores it, and its next
    completion reads only the new tail (issue 22: an API client resumes without re-reading)."""
    api = api_client(textgen)
    wait_for_api(api)
    reply = api.post("/v1/completions", json={"prompt": LONG_PROMPT, "max_tokens": 16, "temperature": 0}).json()
    text = LONG_PROMPT + reply["choices"][0]["text"]
    session = api.post(f"{BASE}/sessions", json={"name": "Harbour"}).json()
    kept = api.post(f"{BASE}/sessions/{session['id']}/checkpoints",
                    json={"mode": "notebook", "output_text": text, "kv_snapshot": True}).json()
    assert kept["kv_present"] and kept["kv"]["n_tokens"] > 500, kept.get("kv_note")

    textgen.restart()  # the engine forgets everything it read
    api = api_client(textgen)
    wait_for_api(api)
    done = api.post(f"{BASE}/sessions/{session['id']}/checkpoints/{kept['id']}/restore", json={}).json()
    assert done["kv_restored"] is True, done["messages"]
    before = textgen.llama_metrics()["llamacpp:prompt_tokens_total"]
    more = api.post("/v1/completions", json={"prompt": done["output_text"] + " Then", "max_tokens": 4,
                                             "temperature": 0}).json()
    assert more["choices"][0]["text"] is not None
    evaluated = textgen.llama_metrics()["llamacpp:prompt_tokens_total"] - before
    print(f"\nAn API completion after an API restore evaluated {evaluated:.0f} prompt tokens "
          f"(the snapshot holds {kept['kv']['n_tokens']})")
    assert evaluated <= TAIL_TOKENS, f"the completion re-read {evaluated:.0f} of {kept['kv']['n_tokens']} tokens"


def test_a_chat_restored_through_the_api_is_textgens_own_chat_again(textgen: TextgenServer) -> None:
    api = api_client(textgen)
    wait_for_api(api)
    history = {"internal": [["Hello", "Hi! How can I help?"], ["A poem?", "Roses are red."]],
               "visible": [["Hello", "Hi! How can I help?"], ["A poem?", "Roses are red."]]}
    session = api.post(f"{BASE}/sessions", json={"name": "A chat", "mode": "chat"}).json()
    cp = api.post(f"{BASE}/sessions/{session['id']}/checkpoints", json={
        "mode": "chat", "history": history,
        "chat": {"unique_id": "20260101-10-00-00", "character": "Assistant", "chat_mode": "chat"}}).json()
    done = api.post(f"{BASE}/sessions/{session['id']}/checkpoints/{cp['id']}/restore", json={})
    assert done.status_code == 200 and done.json()["history"] == history, done.text
    saved = textgen.user_data / "logs" / "chat" / "Assistant" / "20260101-10-00-00.json"
    assert json.loads(saved.read_text(encoding="utf-8"))["internal"] == history["internal"]


def test_a_restore_through_the_api_loads_the_checkpoints_model_when_asked(textgen: TextgenServer) -> None:
    api = api_client(textgen)
    wait_for_api(api)
    session = api.post(f"{BASE}/sessions", json={"name": "Other model"}).json()
    cp = api.post(f"{BASE}/sessions/{session['id']}/checkpoints",
                  json={"output_text": "Written elsewhere.", "model": {"name": SECOND_MODEL_FILE,
                                                                       "loader": "llama.cpp"}}).json()
    done = api.post(f"{BASE}/sessions/{session['id']}/checkpoints/{cp['id']}/restore", json={"load_model": True})
    assert done.status_code == 200 and done.json()["model_loaded"] == SECOND_MODEL_FILE, done.text
    assert api.get("/v1/internal/model/info").json()["model_name"] == SECOND_MODEL_FILE

