"""The prompt cache on disk with a real llama-server (Gemma 3 270M, --swa-full, --cache-ram 0): the slot saved
after each request, the best entry loaded before one, after a server restart and for two conversations that
take turns. llama-server's own timings say how many prompt tokens it really read."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from session_manager.kvstate import blob, checked
from session_manager.kvstate.blob import PREFIX
from session_manager.kvstate.prompt_cache import FOLDER, PromptCache
from session_manager.kvstate.prompt_reuse import PromptReuse

from .conftest import RunningServer, ServerConfig, ServerManager, http_json, long_text

pytestmark = pytest.mark.engine

REPLY = 6  # tokens generated per turn
GiB = 1 << 30


@dataclass
class Conversation:
    tokens: list[int]
    turns: int = 0
    read: list[int] = field(default_factory=list)  # prompt tokens the server read, per request
    new: list[int] = field(default_factory=list)  # tokens each request added after the previous reply


def tail(server: RunningServer, text: str) -> list[int]:
    return http_json(f"{server.url}/tokenize", {"content": text, "add_special": False})["tokens"]


def start(server: RunningServer, topic: str, lines: int = 26) -> Conversation:
    text = long_text(lines).replace("fox", topic)
    return Conversation(server.tokenize(text))


def turn(server: RunningServer, reuse: PromptReuse | None, conversation: Conversation) -> dict[str, Any]:
    """One request as a client makes it: the whole conversation so far, then the reply joins it."""
    backend = server.backend()
    ticket = reuse.before(backend, conversation.tokens).ticket if reuse is not None else 0
    out = server.completion(conversation.tokens, REPLY)
    if reuse is not None:
        reuse.after(backend, ticket)
    conversation.read.append(out["timings"]["prompt_n"])
    conversation.turns += 1
    added = tail(server, f"\nQuestion {conversation.turns}: and then what happened to it?\nAnswer:")
    conversation.new.append(len(added))
    conversation.tokens = conversation.tokens + out["tokens"] + added
    return out


@pytest.fixture
def server(servers: ServerManager) -> RunningServer:
    return servers.get(ServerConfig(swa_full=True))


@pytest.fixture
def cache(tmp_path: Path) -> PromptCache:
    return PromptCache(tmp_path, GiB)


def test_two_conversations_taking_turns_each_read_only_their_new_turn(server: RunningServer,
                                                                       cache: PromptCache) -> None:
    server.erase()
    reuse = PromptReuse(cache)
    a, b = start(server, "otter"), start(server, "heron")
    for _ in range(3):
        turn(server, reuse, a)
        turn(server, reuse, b)
    # The first request of each reads everything; every later one only what was added since its last reply
    # (plus the one token sampled last, which the engine had not read yet).
    assert a.read[0] > 500 and b.read[0] > 500
    for conversation in (a, b):
        for read, added in zip(conversation.read[1:], conversation.new, strict=False):
            assert read <= added + 1, f"read {conversation.read}, new turns {conversation.new}"
    # One entry per conversation: each newer turn replaces the older one it holds in full.
    assert len(cache.entries(server.backend().fingerprint())) == 2


def test_without_the_cache_each_turn_rereads_the_conversation(server: RunningServer) -> None:
    """The control: the same alternation without the cache (and no RAM cache in the server)."""
    server.erase()
    a, b = start(server, "otter"), start(server, "heron")
    for _ in range(2):
        turn(server, None, a)
        turn(server, None, b)
    assert a.read[1] > 500 and b.read[1] > 500


def test_after_a_server_restart_only_the_new_turn_is_read(servers: ServerManager, cache: PromptCache) -> None:
    server = servers.get(ServerConfig(swa_full=True))
    server.erase()
    conversation = start(server, "badger")
    turn(server, PromptReuse(cache), conversation)
    servers.stop()  # textgen restarts: a new server, a new process, an empty slot
    server = servers.get(ServerConfig(swa_full=True))
    out = turn(server, PromptReuse(PromptCache(cache.folder.parent, GiB)), conversation)
    assert out["timings"]["prompt_n"] <= conversation.new[0] + 1, out["timings"]
    assert out["timings"]["cache_n"] > 500


def test_an_entry_of_other_engine_settings_is_never_loaded(servers: ServerManager, cache: PromptCache) -> None:
    server = servers.get(ServerConfig(swa_full=True))
    conversation = start(server, "stoat")
    turn(server, PromptReuse(cache), conversation)
    saved = cache.entries(server.backend().fingerprint())
    assert len(saved) == 1
    other = servers.get(ServerConfig(swa_full=True, ctx=2048))
    fingerprint = other.backend().fingerprint()
    assert cache.entries(fingerprint) == []  # another context size: another folder
    # Even put into that folder by hand, the entry's own fingerprint keeps it out of the engine.
    folder = cache.folder / fingerprint.digest()
    folder.mkdir(parents=True)
    os.link(saved[0].path, folder / saved[0].path.name)
    out = turn(other, PromptReuse(cache), conversation)
    assert out["timings"]["cache_n"] == 0 and out["timings"]["prompt_n"] > 500


def test_a_damaged_entry_never_reaches_the_engine_and_is_removed(server: RunningServer, cache: PromptCache) -> None:
    conversation = start(server, "marten")
    turn(server, PromptReuse(cache), conversation)
    (entry,) = cache.entries(server.backend().fingerprint())
    data = bytearray(entry.path.read_bytes())
    data[PREFIX.size + (len(data) - PREFIX.size) * 3 // 4] ^= 0x40  # one bit of the state
    entry.path.write_bytes(bytes(data))
    server.erase()
    reuse = PromptReuse(cache)
    before = reuse.before(server.backend(), conversation.tokens)
    assert before.restored == 0 and "corrupt" in before.note, before
    assert not entry.path.exists()
    out = server.completion(conversation.tokens, 2)  # the server is unharmed and reads the prompt itself
    assert out["timings"]["prompt_n"] == len(conversation.tokens)


def test_the_budget_keeps_the_most_recently_used_and_zero_keeps_nothing(server: RunningServer,
                                                                         tmp_path: Path) -> None:
    cache = PromptCache(tmp_path, GiB)
    reuse = PromptReuse(cache)
    first, second, third = (start(server, topic, lines=10) for topic in ("vole", "lynx", "mink"))
    for conversation in (first, second, third):
        turn(server, reuse, conversation)
    fingerprint = server.backend().fingerprint()
    entries = {e.token_ids[:40]: e for e in cache.entries(fingerprint)}
    assert len(entries) == 3
    os.utime(next(e.path for k, e in entries.items() if k == tuple(first.tokens[:40])))  # "first" used last
    sizes = sorted(e.size for e in entries.values())
    cache.budget_bytes = sizes[-1] + sizes[-2]  # room for two
    removed = cache.evict()
    kept = {e.token_ids[:40] for e in cache.entries(fingerprint)}
    assert len(removed) == 1 and tuple(second.tokens[:40]) not in kept and tuple(first.tokens[:40]) in kept

    off = PromptCache(tmp_path / "off", 0)
    turn(server, PromptReuse(off), start(server, "hare", lines=10))
    assert not (tmp_path / "off" / FOLDER).exists() or off.total_bytes() == 0


def test_entries_checked_at_start_are_loaded_without_hashing_and_a_damaged_one_is_removed(
        server: RunningServer, cache: PromptCache, monkeypatch: pytest.MonkeyPatch) -> None:
    conversation = start(server, "weasel")
    turn(server, PromptReuse(cache), conversation)
    (entry,) = cache.entries(server.backend().fingerprint())
    damaged = entry.path.with_name("0" * 32 + entry.path.suffix)
    data = bytearray(entry.path.read_bytes())
    data[-3] ^= 0x01
    damaged.write_bytes(bytes(data))
    monkeypatch.setattr(checked.CHECKED, "_known", {})  # a new process: nothing known yet
    monkeypatch.setattr(checked, "SETTLED_NS", 0)  # as if the entries were written before a restart
    assert cache.check_recent(GiB) == 1
    assert entry.path.exists() and not damaged.exists()

    def hashed(*_: object) -> None:
        raise AssertionError("the entry was hashed again while the client waited")
    monkeypatch.setattr(blob, "_copy_hashed", hashed)
    server.erase()
    out = turn(server, PromptReuse(cache), conversation)
    assert out["timings"]["prompt_n"] <= conversation.new[0] + 1, out["timings"]
