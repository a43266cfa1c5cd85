"""Before and after each API generation on one llama-server slot: keep its KV cache in the prompt cache,
and load the entry that spares the most reading.

llama-server keeps one conversation in its slot. When two clients take turns, or after a restart or a
model reload, the next prompt would be read from the start. So: after a generation (once the engine is
idle) the slot is saved as a cache entry; before one, when what the slot holds shares no long prefix
with the prompt but an entry does, that entry is loaded, and the server reads only the differing tail.

What the slot holds is known from our own last save or restore, as long as the server has run no other
task on that slot since (its task id and token count are unchanged); otherwise it counts as unknown,
never as a match. Every step is a cache step: a failure costs speed, never a generation.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import KVError
from . import match_prefix
from .llama_server import LlamaServerBackend
from .prompt_cache import PromptCache

log = logging.getLogger("session_manager")
MIN_TOKENS = 128  # shorter prompts are read again in a moment: not worth a file
IDLE_WAIT_S = 30  # llama-server ends a task a moment after textgen has stopped reading it


@dataclass(frozen=True)
class Before:
    """What was done before a generation, in plain words for the log."""

    restored: int  # tokens loaded from the cache (0: none)
    reused: int  # of the prompt, the tokens the engine will not read again
    prompt: int  # tokens of the prompt
    note: str
    ticket: int = 0  # this generation, for after()


@dataclass(frozen=True)
class _Held:
    backend: LlamaServerBackend
    slot: tuple[Any, Any]  # (task id, token count) the slot reported right after our save or restore
    tokens: tuple[int, ...]


class PromptReuse:
    """One per process: the engine's slot is one, whoever asks."""

    def __init__(self, cache: PromptCache) -> None:
        self.cache = cache
        self._lock = threading.Lock()
        self._held: _Held | None = None
        self._pending: tuple[LlamaServerBackend, int] | None = None  # the slot holds this generation, unsaved
        self._tickets = 0

    def before(self, backend: LlamaServerBackend, prompt_tokens: Sequence[int]) -> Before:
        """Call with the engine idle, just before the prompt is sent (the generation lock held)."""
        with self._lock:
            self._save_pending()
            self._tickets += 1
            self._pending = (backend, self._tickets) if self.cache.budget_bytes > 0 else None
            if self.cache.budget_bytes <= 0 or len(prompt_tokens) < MIN_TOKENS:
                return Before(0, 0, len(prompt_tokens), "", self._tickets)
            return replace(self._load_best(backend, prompt_tokens), ticket=self._tickets)

    def after(self, backend: LlamaServerBackend, ticket: int) -> None:
        """Call once generation ``ticket`` has ended and the engine is idle: the slot becomes a cache entry.
        Nothing happens when a later request has saved it already (and the slot now holds another)."""
        with self._lock:
            if self._pending == (backend, ticket):
                self._save_pending()

    def forget(self) -> None:
        """The slot now holds text of no API request (a page generation): nothing to save, nothing known."""
        with self._lock:
            self._pending = None
            self._held = None

    # ----- helpers --------------------------------------------------------------------------

    def _load_best(self, backend: LlamaServerBackend, prompt: Sequence[int]) -> Before:
        backend.wait_idle(IDLE_WAIT_S)  # the request before may still be ending in llama-server
        rewind = backend.rewind_limit()
        held = self._held_tokens(backend)
        engine = match_prefix(held, prompt) if held is not None else None
        if engine is not None and engine.fits(rewind):
            return Before(0, engine.shared, len(prompt), "the engine holds this conversation")
        best = self.cache.best(backend.fingerprint(), prompt, rewind)
        if best is None or engine is not None and best.match.shared <= engine.shared:
            return Before(0, 0, len(prompt), "no cached prompt shares its start")
        try:
            outcome = self.cache.restore(backend, best.entry, prompt)
        except KVError as exc:  # a damaged entry (now removed) or a server that stopped answering
            self._held = None
            return Before(0, 0, len(prompt), f"the cached prompt was not loaded: {exc}")
        if not outcome.restored:
            self._held = None
            return Before(0, 0, len(prompt), f"the cached prompt was not loaded: {outcome.reason}")
        self._held = _Held(backend, _slot_key(backend), best.entry.token_ids)
        return Before(outcome.n_tokens, outcome.reused, len(prompt),
                      f"loaded {outcome.n_tokens:,} cached tokens in {outcome.seconds * 1000:.0f} ms")

    def _held_tokens(self, backend: LlamaServerBackend) -> Sequence[int] | None:
        """The slot's tokens when known: ours, if the server has done nothing to the slot since."""
        key = _slot_key(backend)
        held = self._held
        if held is not None and held.backend is backend and held.slot == key:
            return held.tokens
        return () if key == (None, None) else None  # (None, None): a fresh server, its slot empty

    def _save_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending is None or self.cache.budget_bytes <= 0:
            return
        backend = pending[0]
        try:
            if not backend.wait_idle(IDLE_WAIT_S):
                log.info("Session Manager: the prompt cache did not save this conversation: llama-server stayed busy")
                return
            if (_slot_key(backend)[1] or 0) < MIN_TOKENS:
                return
            entry = self.cache.save(backend, backend.rewind_limit())
            self._held = _Held(backend, _slot_key(backend), entry.token_ids)
        except KVError as exc:  # e.g. the model was unloaded meanwhile: that conversation is read again later
            self._held = None
            log.info(f"Session Manager: the prompt cache did not save this conversation: {exc}")


def _slot_key(backend: LlamaServerBackend) -> tuple[Any, Any]:
    slot = backend.api.slot_info("save")
    return slot.get("id_task"), slot.get("n_prompt_tokens")
