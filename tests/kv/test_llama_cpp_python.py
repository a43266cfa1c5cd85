"""KV snapshots of an in-process llama_cpp.Llama (Gemma 3 270M), against the real engine."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from session_manager.errors import KVError
from session_manager.kvstate import read_blob_meta, write_blob
from session_manager.kvstate.blob import PREFIX

from .conftest import EvalCounter, long_text, make_llama

pytestmark = pytest.mark.engine

NAME = "20260101T000000000Z-abcdef.kv"
FIRST, REST = 10, 10


@pytest.fixture(scope="module")
def llm(model_path: Path) -> Iterator[Any]:
    model = make_llama(model_path)
    try:
        yield model
    finally:
        model.close()


@pytest.fixture(scope="module")
def backend(llm: Any):
    from session_manager.kvstate.llama_cpp_python import LlamaCppPythonBackend

    return LlamaCppPythonBackend(llm)


@pytest.fixture(scope="module")
def prompt(backend: Any) -> list[int]:
    return backend.tokenize(long_text())


@pytest.fixture(scope="module")
def reference(llm: Any, backend: Any, prompt: list[int]) -> list[int]:
    """The never-interrupted greedy continuation."""
    backend.reset()
    return greedy(llm, prompt, FIRST + REST)


@pytest.fixture(scope="module")
def short_reference(llm: Any, backend: Any, prompt: list[int]) -> list[int]:
    """A cheap greedy run to check the engine still works after a refusal."""
    backend.reset()
    return greedy(llm, prompt[:60], 4)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, llm: Any, backend: Any, prompt: list[int],
          reference: list[int]) -> tuple[Path, list[int]]:
    """A snapshot taken after FIRST generated tokens, and those tokens."""
    backend.reset()
    first = greedy(llm, prompt, FIRST)
    path = tmp_path_factory.mktemp("kv") / NAME
    backend.snapshot(path)
    return path, first


def greedy(llm: Any, tokens: list[int], n: int) -> list[int]:
    return list(itertools.islice(llm.generate(tokens, temp=0.0, top_k=1, repeat_penalty=1.0), n))


def test_restore_continues_token_for_token_and_evaluates_one_token(
        llm: Any, backend: Any, prompt: list[int], reference: list[int], saved: tuple[Path, list[int]]) -> None:
    blob, first = saved
    assert first == reference[:FIRST]
    greedy(llm, backend.tokenize("Something else entirely, to overwrite the cache."), 3)
    counter = EvalCounter(llm)
    try:
        outcome = backend.restore(blob, prompt + first)
        rest = greedy(llm, prompt + first, REST)
        evaluated_after_restore = counter.calls[0]

        backend.reset()
        counter.clear()
        greedy(llm, prompt + first, 1)
        evaluated_without = counter.total
    finally:
        counter.close()
    assert outcome.restored, outcome.reason
    # The engine held the prompt and FIRST-1 generated tokens (the last one was sampled, not evaluated).
    assert outcome.n_tokens == len(prompt) + FIRST - 1
    assert first + rest == reference
    # How much faster that is, is measured side by side in bench/kv_resume.py; here: what was read again.
    assert evaluated_after_restore == 1
    assert evaluated_without == len(prompt) + FIRST


def test_create_completion_text_path_reuses_the_prefix(llm: Any, backend: Any, tmp_path: Path) -> None:
    text = long_text(12)
    backend.reset()
    whole = llm.create_completion(text, max_tokens=16, temperature=0.0, top_k=1, repeat_penalty=1.0)
    backend.reset()
    part = llm.create_completion(text, max_tokens=8, temperature=0.0, top_k=1, repeat_penalty=1.0)
    blob = tmp_path / NAME
    backend.snapshot(blob)
    backend.reset()
    continued_text = text + part["choices"][0]["text"]
    outcome = backend.restore(blob, backend.tokenize(continued_text))
    counter = EvalCounter(llm)
    try:
        rest = llm.create_completion(continued_text, max_tokens=8, temperature=0.0, top_k=1, repeat_penalty=1.0)
    finally:
        counter.close()
    assert outcome.restored, outcome.reason
    assert counter.calls[0] <= 2
    assert part["choices"][0]["text"] + rest["choices"][0]["text"] == whole["choices"][0]["text"]


def test_blob_is_close_to_the_engine_state_size(backend: Any, saved: tuple[Path, list[int]]) -> None:
    blob, _ = saved
    meta = read_blob_meta(blob)
    assert meta.backend == "llama-cpp-python"
    assert meta.state_bytes > 1_000_000  # a real KV cache, not an empty one
    assert blob.stat().st_size <= 1.05 * meta.state_bytes
    assert meta.fingerprint == backend.fingerprint()
    assert meta.fingerprint.swa_full is True and meta.fingerprint.n_ctx == 1024


def test_snapshot_ref_describes_the_file(llm: Any, backend: Any, prompt: list[int], tmp_path: Path) -> None:
    backend.reset()
    greedy(llm, prompt[:40], 2)
    ref = backend.snapshot(tmp_path / NAME)
    assert ref.file == NAME and ref.bytes == (tmp_path / NAME).stat().st_size
    assert ref.n_tokens == 41 and ref.backend == "llama-cpp-python"
    assert ref.fingerprint == backend.fingerprint().digest()
    held = backend.held_tokens()
    assert held[:40] == prompt[:40] and read_blob_meta(tmp_path / NAME).token_ids == held
    with pytest.raises(KVError, match="the model has not read this text"):
        backend.snapshot(tmp_path / "20260101T000000001Z-abcdef.kv", token_ids=held[:1] + [t + 1 for t in held[1:]])
    # The last token re-tokenizes differently (as after a Stop): the cache still fits the text.
    tail = backend.snapshot(tmp_path / "20260101T000000002Z-abcdef.kv", token_ids=held[:40] + [held[40] + 1])
    assert tail.n_tokens == 41


@pytest.mark.parametrize("damage", ["flip", "truncate", "foreign"])
def test_damaged_blob_is_refused_and_the_engine_keeps_working(
        llm: Any, backend: Any, prompt: list[int], short_reference: list[int], saved: tuple[Path, list[int]],
        tmp_path: Path, damage: str) -> None:
    blob, first = saved
    data = bytearray(blob.read_bytes())
    if damage == "flip":
        data[-1000] ^= 0x10
    elif damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data = bytearray(b"GGUF" + bytes(100))
    bad = tmp_path / NAME
    bad.write_bytes(bytes(data))
    backend.reset()
    greedy(llm, prompt[:30], 1)
    held = backend.held_tokens()
    with pytest.raises(KVError, match="corrupt|truncated|not a KV snapshot"):
        backend.restore(bad, prompt + first)
    assert backend.held_tokens() == held  # nothing reached the engine
    backend.reset()
    assert greedy(llm, prompt[:60], 4) == short_reference


def test_state_llama_cpp_refuses_leaves_a_clean_engine(
        llm: Any, backend: Any, prompt: list[int], short_reference: list[int], saved: tuple[Path, list[int]],
        tmp_path: Path) -> None:
    """A well-formed blob whose state llama.cpp cannot load: refused, cache cleared, engine usable."""
    blob, first = saved
    meta = read_blob_meta(blob)
    data = blob.read_bytes()
    _, _, header_len, _ = PREFIX.unpack(data[: PREFIX.size])
    state = data[PREFIX.size + header_len:]
    forged = tmp_path / NAME
    write_blob(forged, backend=meta.backend, fingerprint=meta.fingerprint, token_ids=meta.token_ids,
               state=state[: len(state) // 3])
    outcome = backend.restore(forged, prompt + first)
    assert not outcome.restored
    assert "llama.cpp refused the saved state" in outcome.reason and "cleared" in outcome.reason
    assert llm.n_tokens == 0
    assert greedy(llm, prompt[:60], 4) == short_reference


def test_other_context_size_gives_the_plain_reason(model_path: Path, llm: Any, backend: Any, prompt: list[int],
                                                   tmp_path: Path) -> None:
    from session_manager.kvstate.llama_cpp_python import LlamaCppPythonBackend

    small = make_llama(model_path, n_ctx=512)
    try:
        other = LlamaCppPythonBackend(small)
        greedy(small, prompt[:20], 1)
        other.snapshot(tmp_path / NAME)
    finally:
        small.close()
    backend.reset()
    greedy(llm, prompt[:10], 1)
    outcome = backend.restore(tmp_path / NAME, prompt)
    assert not outcome.restored
    assert outcome.reason == "context size differs (512 vs 1024)"
    assert llm.n_tokens == 10  # untouched


def test_prefix_mismatch_gives_the_plain_reason(llm: Any, backend: Any, prompt: list[int],
                                                saved: tuple[Path, list[int]]) -> None:
    blob, first = saved
    edited = prompt[:100] + backend.tokenize(" An edit in the middle.")[1:] + prompt[100:] + first
    backend.reset()
    greedy(llm, prompt[:10], 1)
    outcome = backend.restore(blob, edited)
    assert not outcome.restored
    assert outcome.reason.startswith("the snapshot holds other text")
    assert "its first 100 of" in outcome.reason
    assert llm.n_tokens == 10


def test_sliding_window_guard_resets_when_the_prompt_departs_early(
        llm: Any, backend: Any, prompt: list[int], saved: tuple[Path, list[int]]) -> None:
    blob, first = saved
    assert backend.restore(blob, prompt + first).restored
    # A restored Gemma 3 state keeps only the last 512 positions of its sliding-window layers.
    assert backend._pos_min() > 0
    assert backend.prepare_generation(prompt + first) is False
    assert llm.n_tokens == len(prompt) + FIRST - 1
    assert backend.prepare_generation(prompt[:50] + [prompt[50] + 1]) is True
    assert llm.n_tokens == 0


def test_busy_engine_and_empty_engine_refuse_snapshots(llm: Any, model_path: Path, tmp_path: Path) -> None:
    from session_manager.kvstate.llama_cpp_python import LlamaCppPythonBackend

    busy = LlamaCppPythonBackend(llm, is_busy=lambda: True)
    with pytest.raises(KVError, match="a generation is running"):
        busy.snapshot(tmp_path / NAME)
    idle = LlamaCppPythonBackend(llm)
    idle.reset()
    with pytest.raises(KVError, match="has not read any text"):
        idle.snapshot(tmp_path / NAME)
    assert not (tmp_path / NAME).exists()
    assert json.loads(idle.fingerprint().model_dump_json())["file_name"] == model_path.name
