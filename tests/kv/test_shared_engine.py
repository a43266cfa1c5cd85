"""One real llama-server shared by two users: a user's snapshot never holds the other user's text."""

from __future__ import annotations

from pathlib import Path

import pytest

from session_manager.errors import KVError
from session_manager.kvstate import read_blob_meta
from session_manager.kvstate.shared_engine import NOT_YOURS, EngineTurns, GuardedBackend

from .conftest import RunningServer, ServerConfig, ServerManager, long_text

pytestmark = pytest.mark.engine
NAME = "20260101T000000000Z-{}0000.kv"


def generate(server: RunningServer, prompt: list[int]) -> list[int]:
    """The tokens the engine now holds the text of: the prompt and what it wrote."""
    return prompt + server.completion(prompt, 4)["tokens"]


def test_each_user_snapshots_only_their_own_text(servers: ServerManager, tmp_path: Path) -> None:
    server = servers.get(ServerConfig(swa_full=True))
    backend, turns = server.backend(), EngineTurns()
    alice, bob = GuardedBackend(backend, turns, "alice"), GuardedBackend(backend, turns, "bob")
    alice_prompt = server.tokenize(long_text())
    # Bob's text starts as Alice's does (a shared template), then is his own.
    bob_prompt = alice_prompt[: len(alice_prompt) * 3 // 5] + server.tokenize("Bob's private plans")[1:]

    turns.read_by("alice")
    alice_text = generate(server, alice_prompt)
    assert read_blob_meta(tmp_path / alice.snapshot(tmp_path / NAME.format("a1"), alice_text).file).token_ids

    turns.read_by("bob")
    bob_text = generate(server, bob_prompt)
    with pytest.raises(KVError, match=NOT_YOURS):  # Alice's save came after Bob's generation
        alice.snapshot(tmp_path / NAME.format("a2"), alice_text)
    turns.read_by("alice")  # even when the turns say Alice (a hook that came late): the engine holds Bob's
    with pytest.raises(KVError, match=NOT_YOURS):
        alice.snapshot(tmp_path / NAME.format("a3"), alice_text)
    assert not (tmp_path / NAME.format("a2")).exists() and not (tmp_path / NAME.format("a3")).exists()

    turns.read_by("bob")
    held = read_blob_meta(tmp_path / bob.snapshot(tmp_path / NAME.format("b1"), bob_text).file).token_ids
    assert held[: len(bob_prompt)] == bob_prompt


def test_a_restore_makes_the_engine_the_restoring_users(servers: ServerManager, tmp_path: Path) -> None:
    server = servers.get(ServerConfig(swa_full=True))
    backend, turns = server.backend(), EngineTurns()
    alice, bob = GuardedBackend(backend, turns, "alice"), GuardedBackend(backend, turns, "bob")
    prompt = server.tokenize(long_text())
    turns.read_by("bob")
    text = generate(server, prompt)
    blob = tmp_path / NAME.format("b1")
    bob.snapshot(blob, text)
    turns.read_by("alice")
    assert bob.restore(blob, text).restored
    assert turns.now()[1] == "bob"
    with pytest.raises(KVError, match=NOT_YOURS):
        alice.snapshot(tmp_path / NAME.format("a1"), text)
