"""llama.cpp KV-state snapshots: one blob format, one backend per engine.

A checkpoint may carry the engine's KV cache so that "Continue" after a restore starts at
once. A snapshot is restored only when the model fingerprint matches and the saved tokens
are a prefix of the text that will be generated from; otherwise the reason is given in
plain words and the engine simply re-reads the prompt.

Backends (imported on demand, each pulls in its engine):
    session_manager.kvstate.llama_server.LlamaServerBackend        textgen's llama.cpp loader
    session_manager.kvstate.llama_cpp_python.LlamaCppPythonBackend  in-process llama_cpp.Llama
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import KVError
from ..models import KVBlobMeta, KVRef, ModelFingerprint
from .blob import copy_blob_state, read_blob_meta, read_blob_state, write_blob
from .fingerprint import sample_hash

__all__ = [
    "KVBackend",
    "RestoreOutcome",
    "check_restorable",
    "check_held_tokens",
    "common_prefix",
    "write_blob",
    "read_blob_meta",
    "read_blob_state",
    "copy_blob_state",
    "sample_hash",
]


@dataclass(frozen=True)
class RestoreOutcome:
    restored: bool
    reason: str  # plain words; empty when restored
    n_tokens: int  # tokens now in the engine's cache from the snapshot
    seconds: float


class KVBackend(Protocol):
    """One engine holding the KV cache of one sequence (seq 0 / one server slot)."""

    name: str  # "llama-server" | "llama-cpp-python"

    def fingerprint(self) -> ModelFingerprint: ...

    def snapshot(self, dest: Path, token_ids: Sequence[int] | None = None) -> KVRef:
        """Write the engine's cache to ``dest`` ("<checkpoint-id>.kv"); raises KVError when it cannot.

        ``token_ids``, when given, are the checkpoint's text: the engine's tokens must be their
        start (a guard against saving a cache that belongs to other text).
        """
        ...

    def restore(self, blob: Path, prompt_token_ids: Sequence[int]) -> RestoreOutcome:
        """Load ``blob`` if it fits the loaded model and the prompt; raises KVError for a broken file."""
        ...


def check_restorable(meta: KVBlobMeta, current: ModelFingerprint, prompt_token_ids: Sequence[int],
                     backend: str | None = None) -> str | None:
    """None when ``meta`` may be loaded into the running engine, else the reason in plain words."""
    if backend is not None and meta.backend != backend:
        return f"the snapshot was taken with {meta.backend}, the model now runs on {backend}"
    reason = _fingerprint_difference(meta.fingerprint, current)
    if reason:
        return reason
    saved = meta.token_ids
    if len(saved) >= current.n_ctx:
        return f"the snapshot holds {len(saved)} tokens, more than the context size {current.n_ctx}"
    agree = common_prefix(saved, prompt_token_ids)
    if agree < len(saved):
        return (f"the saved tokens are not a prefix of the text to continue from (the first {agree} of "
                f"{len(saved)} saved tokens match; the text has {len(prompt_token_ids)} tokens)")
    return None


def check_held_tokens(held: Sequence[int], token_ids: Sequence[int] | None) -> None:
    """Before a snapshot: the engine holds evaluated text and (when given) it is the start of ``token_ids``.

    A cache of other text would never pass restore's prefix rule: it would only take disk space.
    """
    if not held:
        raise KVError("there is no evaluated text to snapshot yet; generate once, then save")
    if token_ids is not None and common_prefix(held, token_ids) < len(held):
        agree = common_prefix(held, token_ids)
        raise KVError(f"the model's cache holds other text than this checkpoint ({agree} of {len(held)} "
                      "tokens agree); no KV snapshot was taken")


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _fingerprint_difference(saved: ModelFingerprint, now: ModelFingerprint) -> str | None:
    if saved.file_name != now.file_name:
        return f"the checkpoint was made with model {saved.file_name}, the loaded model is {now.file_name}"
    if saved.file_size != now.file_size or saved.sample_hash != now.sample_hash:
        return f"the model file {now.file_name} has changed since the checkpoint was made"
    labels = (
        ("n_ctx", "context size differs ({} vs {})"),
        ("kv_type", "KV cache type differs ({} vs {})"),
        ("flash_attn", "flash attention setting differs ({} vs {})"),
        ("swa_full", "full-size sliding-window cache (swa-full) differs ({} vs {})"),
        ("state_format", "the llama.cpp build differs ({} vs {}); its saved state may not fit"),
    )
    for field, text in labels:
        a, b = getattr(saved, field), getattr(now, field)
        if a != b:
            if isinstance(a, bool):
                a, b = ("on" if a else "off"), ("on" if b else "off")
            return text.format(a, b)
    extra_saved, extra_now = saved.model_extra or {}, now.model_extra or {}
    for key in sorted(set(extra_saved) | set(extra_now)):
        if extra_saved.get(key) != extra_now.get(key):
            return f"engine setting {key} differs ({extra_saved.get(key)} vs {extra_now.get(key)})"
    return None
