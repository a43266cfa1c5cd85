"""llama.cpp KV-state snapshots: one blob format, one backend per engine.

A checkpoint may carry the engine's KV cache so that "Continue" after a restore starts at
once. A snapshot is restored only when the model fingerprint matches and the saved tokens share a
long common prefix with the text that will be generated from (``PrefixMatch.usable``): the
engine then re-reads only the differing tail. An exact prefix is not required: after a Stop the
engine holds a token or two more than the text shows, and re-tokenized text does not always
match the generated tokens. Otherwise the reason is given in plain words and the engine simply
re-reads the prompt.

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
    "PrefixMatch",
    "RestoreOutcome",
    "check_restorable",
    "check_held_tokens",
    "common_prefix",
    "match_prefix",
    "write_blob",
    "read_blob_meta",
    "read_blob_state",
    "copy_blob_state",
    "sample_hash",
]


# A snapshot is worth loading when it covers at least half of the text and this many of its tokens
# (all of them when it is shorter): a shared BOS token alone is no reason to replace the cache.
MIN_SHARED_TOKENS = 8


@dataclass(frozen=True)
class PrefixMatch:
    """How a snapshot's tokens line up with a text's tokens."""

    shared: int  # length of the common prefix
    saved: int  # tokens in the snapshot
    text: int  # tokens of the text

    @property
    def usable(self) -> bool:
        """The engine reuses ``shared`` tokens and re-reads only the rest: worth a restore."""
        return self.shared >= min(MIN_SHARED_TOKENS, self.saved) and 2 * self.shared >= self.text > 0

    def fits(self, rewind_limit: int | None) -> bool:
        """Usable by an engine that can drop at most ``rewind_limit`` of the snapshot's last tokens (None: any).

        A model with a sliding attention window keeps only the window's last positions in part of its state,
        so the engine cannot go back further than that into a restored snapshot.
        """
        return self.usable and (rewind_limit is None or self.saved - self.shared <= rewind_limit)

    @property
    def tail(self) -> int:
        """Tokens of the text the engine still has to read after a restore."""
        return self.text - self.shared


@dataclass(frozen=True)
class RestoreOutcome:
    restored: bool
    reason: str  # plain words; empty when restored
    n_tokens: int  # tokens now in the engine's cache from the snapshot
    seconds: float
    reused: int = 0  # of those, the tokens the next generation keeps (the rest is re-read)


class KVBackend(Protocol):
    """One engine holding the KV cache of one sequence (seq 0 / one server slot)."""

    name: str  # "llama-server" | "llama-cpp-python"

    def fingerprint(self) -> ModelFingerprint: ...

    def snapshot(self, dest: Path, token_ids: Sequence[int] | None = None) -> KVRef:
        """Write the engine's cache to ``dest`` ("<checkpoint-id>.kv"); raises KVError when it cannot.

        ``token_ids``, when given, are the checkpoint's text: the engine's tokens must share a usable
        prefix with them (a guard against saving a cache that belongs to other text).
        """
        ...

    def restore(self, blob: Path, prompt_token_ids: Sequence[int]) -> RestoreOutcome:
        """Load ``blob`` if it fits the loaded model and the prompt; raises KVError for a broken file."""
        ...

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the engine has finished its work (a stopped request ends a moment later)."""
        ...

    def rewind_limit(self) -> int | None:
        """How many of a restored snapshot's last tokens the engine can drop again (None: any)."""
        ...


def check_restorable(meta: KVBlobMeta, current: ModelFingerprint, prompt_token_ids: Sequence[int],
                     backend: str | None = None, rewind_limit: int | None = None) -> str | None:
    """None when ``meta`` may be loaded into the running engine, else the reason in plain words."""
    if backend is not None and meta.backend != backend:
        return f"the snapshot was taken with {meta.backend}, the model now runs on {backend}"
    reason = _fingerprint_difference(meta.fingerprint, current)
    if reason:
        return reason
    saved = meta.token_ids
    if len(saved) >= current.n_ctx:
        return f"the snapshot holds {len(saved)} tokens, more than the context size {current.n_ctx}"
    match = match_prefix(saved, prompt_token_ids)
    if not match.usable:
        return (f"the snapshot holds other text (its first {match.shared} of {match.saved} tokens match the "
                f"{match.text} tokens of the text)")
    if not match.fits(rewind_limit):
        return (f"the text leaves the snapshot {match.saved - match.shared} tokens before its end, further back "
                f"than this model's sliding window lets the engine go ({rewind_limit} tokens)")
    return None


def check_held_tokens(held: Sequence[int], token_ids: Sequence[int] | None, rewind_limit: int | None = None) -> None:
    """Before a snapshot: the engine holds evaluated text and (when given) it fits ``token_ids``.

    A cache of other text would never pass restore's prefix rule: it would only take disk space.
    """
    if not held:
        raise KVError("the model has not read any text yet")
    if token_ids is not None and not match_prefix(held, token_ids).fits(rewind_limit):
        raise KVError("the model has not read this text")


def match_prefix(saved: Sequence[int], text: Sequence[int]) -> PrefixMatch:
    return PrefixMatch(common_prefix(saved, text), len(saved), len(text))


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
