"""The prompt cache for API clients in the real textgen: /v1/chat/completions after a restart, and two
conversations taking turns, read only their new turn. llama-server runs with --metrics and --cache-ram 0
(no RAM prompt cache of its own), so its prompt_tokens_total says what was really read."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .textgen_server import TextgenServer, http_json

TEXTGEN = {"api": True, "extra_flags": "--metrics --cache-ram 0"}
METRIC = "llamacpp:prompt_tokens_total"
CARD = ("You are Captain Mara Vell of the survey ship Heron. You answer briefly, in character. The ship carries "
        "twelve crew, three shuttles and a greenhouse deck; it is charting the outer moons of a gas giant. ")
NEW_TURN_TOKENS = 48  # a new user message with the template's markers, and the last reply's end
SAVE_WAIT_S = 60


@dataclass
class Chat:
    system: str
    messages: list[dict[str, str]] = field(default_factory=list)
    read: list[float] = field(default_factory=list)  # prompt tokens llama-server read per request

    def ask(self, textgen: TextgenServer, question: str) -> dict[str, Any]:
        self.messages.append({"role": "user", "content": question})
        before = textgen.llama_metrics()[METRIC]
        answer = http_json(f"http://127.0.0.1:{textgen.api_port}/v1/chat/completions", {
            "messages": [{"role": "system", "content": self.system}, *self.messages],
            "max_tokens": 12, "temperature": 0, "seed": 1}, timeout=300)
        self.read.append(textgen.llama_metrics()[METRIC] - before)
        self.messages.append({"role": "assistant", "content": answer["choices"][0]["message"]["content"]})
        return answer


def cache_entries(textgen: TextgenServer) -> list[str]:
    return sorted(p.name for p in (textgen.store_root / "prompt-cache").glob("*/*.kv"))


def wait_saved(textgen: TextgenServer, answer: dict[str, Any], before: list[str]) -> None:
    """Until the entry of this answer's request is on disk (saved once the engine is idle): a new one that holds
    its prompt and the reply (an entry of another chat may be written meanwhile)."""
    from session_manager.errors import KVError
    from session_manager.kvstate.blob import read_blob_meta

    low = answer["usage"]["prompt_tokens"]
    high = low + 64  # the reply (textgen versions count its tokens differently)
    deadline = time.monotonic() + SAVE_WAIT_S
    while time.monotonic() < deadline:
        for path in (textgen.store_root / "prompt-cache").glob("*/*.kv"):
            if path.name in before:
                continue
            try:
                if low <= len(read_blob_meta(path).token_ids) <= high:
                    return
            except KVError:
                continue  # removed meanwhile
        time.sleep(0.25)
    raise AssertionError(f"no prompt cache entry of {low} to {high} tokens within {SAVE_WAIT_S} s")


def test_after_a_restart_a_chat_reads_only_its_new_turn_and_makes_no_session(textgen: TextgenServer) -> None:
    chat = Chat(CARD * 18)  # ~750 tokens
    before = cache_entries(textgen)
    answer = chat.ask(textgen, "Captain, what is our heading?")
    assert chat.read[0] > 600, chat.read
    wait_saved(textgen, answer, before)
    textgen.restart()
    chat.ask(textgen, "And how long until we reach the third moon?")
    print(f"\nAPI chat after a restart: read {chat.read[1]:.0f} prompt tokens (the first request read "
          f"{chat.read[0]:.0f})")
    assert chat.read[1] <= NEW_TURN_TOKENS, f"after the restart the chat read {chat.read[1]:.0f} prompt tokens"
    # API calls make no sessions (nor checkpoints); the cache's entries are not sessions either.
    assert textgen.store().count_sessions() == 0
    assert not list(textgen.store_root.glob("sessions/*/*"))


def test_two_chats_taking_turns_each_read_only_their_new_turn(textgen: TextgenServer) -> None:
    # Cards of their own: the engine still holds the previous test's chat, which starts like CARD.
    first = Chat(CARD.replace("Mara Vell", "Jon Aske").replace("Heron", "Curlew") * 18)
    second = Chat(CARD.replace("Mara Vell", "Ilse Brandt").replace("Heron", "Petrel") * 18)
    for question in ("What do you see ahead?", "Any word from the shuttles?", "Shall we land?"):
        for chat in (first, second):
            chat.ask(textgen, question)
    print(f"\ntwo chats taking turns, prompt tokens read per request: {first.read} / {second.read}")
    for chat in (first, second):
        assert chat.read[0] > 600
        assert max(chat.read[1:]) <= NEW_TURN_TOKENS, f"a later turn re-read the chat: {chat.read}"
    # Each chat keeps one entry, its newest turn (plus those of the other tests' chats).
    assert len(cache_entries(textgen)) <= 3, cache_entries(textgen)


def test_after_a_model_reload_through_the_api_a_chat_reads_only_its_new_turn(textgen: TextgenServer) -> None:
    """textgen's /v1/internal/model/load resets the loader flags to their startup values: the slot flags
    must survive that, or the new server could neither save nor load."""
    from .textgen_server import MODEL_FILE

    chat = Chat(CARD.replace("Heron", "Tern") * 18)
    before = cache_entries(textgen)
    answer = chat.ask(textgen, "Captain, is the greenhouse deck in order?")
    wait_saved(textgen, answer, before)
    # The same context size as at startup (an API load otherwise takes the model's own, another fingerprint).
    http_json(f"http://127.0.0.1:{textgen.api_port}/v1/internal/model/load",
              {"model_name": MODEL_FILE, "args": {"ctx_size": 4096}}, timeout=300)
    chat.ask(textgen, "Good. And the shuttles?")
    assert chat.read[1] <= NEW_TURN_TOKENS, f"after the reload the chat read {chat.read[1]:.0f} prompt tokens"
