"""check_restorable: a snapshot is used only for the same model, settings and text prefix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from session_manager.kvstate import check_restorable, match_prefix, sample_hash
from session_manager.models import KVBlobMeta, ModelFingerprint


def fp(**changes: object) -> ModelFingerprint:
    values = {"file_name": "gemma.gguf", "file_size": 1000, "sample_hash": "ab" * 32, "n_ctx": 4096,
              "kv_type": "f16", "flash_attn": "auto", "swa_full": True, "state_format": "llama-server b1"}
    values.update(changes)
    return ModelFingerprint(**values)


def meta(tokens: list[int], **changes: object) -> KVBlobMeta:
    return KVBlobMeta(backend="llama-server", fingerprint=fp(**changes), token_ids=tokens, state_bytes=10,
                      state_sha256="0" * 64, stored_bytes=10)


def test_same_model_and_prefix_is_restorable() -> None:
    assert check_restorable(meta([2, 3, 4]), fp(), [2, 3, 4, 5, 6]) is None
    assert check_restorable(meta([2, 3, 4]), fp(), [2, 3, 4]) is None  # the engine replays the last token


@pytest.mark.parametrize("saved,now,reason", [
    ({"file_name": "llama.gguf"}, {}, "the checkpoint was made with model llama.gguf, the loaded model is gemma.gguf"),
    ({"sample_hash": "cd" * 32}, {}, "the model file gemma.gguf has changed since the checkpoint was made"),
    ({"n_ctx": 4096}, {"n_ctx": 2048}, "context size differs (4096 vs 2048)"),
    ({"kv_type": "q8_0"}, {}, "KV cache type differs (q8_0 vs f16)"),
    ({"flash_attn": "on"}, {"flash_attn": "off"}, "flash attention setting differs (on vs off)"),
    ({"swa_full": False}, {}, "swa-full) differs (off vs on)"),
    ({}, {"swa_full": False}, "swa-full) differs (on vs off)"),
    ({"state_format": "llama-server b2"}, {}, "the llama.cpp build differs (llama-server b2 vs llama-server b1)"),
])
def test_fingerprint_differences_are_named(saved: dict, now: dict, reason: str) -> None:
    got = check_restorable(meta([2, 3], **saved), fp(**now), [2, 3, 4])
    assert got is not None and reason in got


def test_other_text_is_refused_saying_how_much_agrees() -> None:
    got = check_restorable(meta([2, 3, 4, 5]), fp(), [2, 3, 9, 5, 6])
    assert got == "the snapshot holds other text (its first 2 of 4 tokens match the 5 tokens of the text)"
    typed = check_restorable(meta(list(range(2, 1494))), fp(), [2] + list(range(5000, 6490)))
    assert typed is not None and "its first 1 of 1492 tokens" in typed


def test_a_long_common_prefix_is_enough() -> None:
    """After a Stop the engine holds a token more than the text shows, or the last one re-tokenizes differently."""
    held = list(range(2, 1485))
    assert check_restorable(meta(held), fp(), held[:-1] + [9999]) is None  # 1482 of 1483 agree
    assert check_restorable(meta(held), fp(), held[:-2]) is None  # the text is shorter than the cache
    assert check_restorable(meta(held), fp(), held + list(range(5000, 6000))) is None  # 1483 of 2483: over half
    assert check_restorable(meta(held), fp(), held + list(range(5000, 7000))) is not None  # under half


def test_usable_prefix_rule_at_its_edges() -> None:
    assert match_prefix([1, 2, 3], [1, 2, 3, 4, 5]).usable  # a short snapshot, all of it reused
    assert not match_prefix([1] + list(range(10, 30)), [1] + list(range(40, 45))).usable  # only BOS shared
    assert match_prefix(list(range(20)), list(range(20))).tail == 0
    assert match_prefix(list(range(20)), list(range(8)) + [99] * 8).usable  # 8 of 16: exactly half
    assert not match_prefix(list(range(20)), list(range(7)) + [99] * 8).usable


def test_other_backend_and_oversized_snapshot() -> None:
    assert check_restorable(meta([2]), fp(), [2], backend="llama-cpp-python") == (
        "the snapshot was taken with llama-server, the model now runs on llama-cpp-python")
    big = check_restorable(meta(list(range(20)), n_ctx=10), fp(n_ctx=10), list(range(30)))
    assert big is not None and "more than the context size 10" in big


def test_sample_hash_sees_changes_in_the_middle_and_the_size(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    plain = bytes(5 << 20)
    middle = len(plain) // 2
    versions = [plain, plain[:middle] + b"\1" + plain[middle + 1:], plain + b"\0"]
    hashes = []
    for stamp, content in enumerate(versions):
        path.write_bytes(content)
        os.utime(path, ns=(stamp * 10**9, stamp * 10**9))  # the hash is cached per (size, mtime)
        hashes.append(sample_hash(path))
    assert len(set(hashes)) == 3


def test_a_sliding_window_limits_how_far_back_a_restored_snapshot_can_serve() -> None:
    saved = list(range(1000))
    back_300 = saved[:700] + [5000, 5001]
    assert match_prefix(saved, back_300).fits(None)  # no window: any shared start is kept
    assert match_prefix(saved, back_300).fits(511)  # llama-server: less than the window back
    assert not match_prefix(saved, saved[:400] + [5000]).fits(511)
    assert not match_prefix(saved, back_300).fits(1)  # llama-cpp-python: only the replayed last token
    assert match_prefix(saved, saved[:999] + [5000]).fits(1)
    reason = check_restorable(meta(saved), fp(), back_300, rewind_limit=1)
    assert reason is not None and "300 tokens before its end" in reason and "sliding window" in reason


def test_a_snapshot_that_fills_the_whole_context_is_refused() -> None:
    """No room for a single new token: a snapshot of exactly n_ctx tokens is of no use (found by a mutant)."""
    full = list(range(2, 2 + 64))
    assert check_restorable(meta(full, n_ctx=65), fp(n_ctx=65), full) is None
    refused = check_restorable(meta(full, n_ctx=64), fp(n_ctx=64), full)
    assert refused is not None and "context size 64" in refused


def test_an_engine_setting_this_version_does_not_know_must_match_too() -> None:
    """A fingerprint from a newer version may carry more settings: a difference in any of them refuses."""
    assert check_restorable(meta([2, 3], rope_scale=2), fp(rope_scale=2), [2, 3, 4]) is None
    refused = check_restorable(meta([2, 3], rope_scale=2), fp(rope_scale=4), [2, 3, 4])
    assert refused == "engine setting rope_scale differs (2 vs 4)"
    unknown_before = check_restorable(meta([2, 3]), fp(rope_scale=4), [2, 3, 4])
    assert unknown_before == "engine setting rope_scale differs (None vs 4)"
