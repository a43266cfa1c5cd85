"""The prompt cache for textgen's OpenAI-compatible API (/v1/completions, /v1/chat/completions).

textgen runs input_modifier for API requests too: for a completion inside ``_generate_reply`` with the
whole prompt, for a chat inside ``chatbot_wrapper`` with the new user message only, before it builds
the prompt. So for a chat the prompt is built here as textgen is about to build it (its own
generate_chat_prompt, the same history and state). Before the prompt goes to llama-server the best
cache entry is loaded (kvstate.prompt_reuse); once the generation has ended and the engine is idle, a
thread saves the slot. API requests still make no sessions and no checkpoints: none of this touches
the store. Only the llama.cpp loader with one slot (textgen's default) is served.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from ...kvstate.checked import SETTLED_NS
from ...kvstate.llama_server import LlamaServerBackend
from ...kvstate.prompt_cache import PromptCache
from ...kvstate.prompt_reuse import Before, PromptReuse
from ...settings import SettingsManager
from .host_adapter import TextgenHost
from .watch import ending_of, textgen_frame

log = logging.getLogger("session_manager")
API_FUNCTIONS = ("chat_completions_common", "completions_common")  # textgen's modules/api/completions.py
MiB = 1 << 20
POLL_SECONDS = 0.1
LOCK_WAIT_S = 600  # a generation ahead of this one may take this long; after that the cache step is skipped
# At start, the most recently used entries (up to this much) are checked on a thread: a client's first
# restore after a restart then copies its entry without hashing it first (kvstate/checked.py).
CHECK_AT_START_MB = 1024


class ApiPromptCache:
    def __init__(self, root: Path, settings: SettingsManager, host: TextgenHost) -> None:
        self.settings = settings
        self.host = host
        self.reuse = PromptReuse(PromptCache(root, self._budget()))
        threading.Thread(target=self._check_recent, name="session-manager-prompt-cache-check", daemon=True).start()

    def on_input(self, text: str, state: dict[str, Any], is_chat: bool) -> bool:
        """input_modifier of an API request: load the best cache entry. False when this is no API request."""
        if api_frame() is None:
            return False
        self.reuse.cache.budget_bytes = self._budget()
        backend = self.host.kv_backend()
        if not isinstance(backend, LlamaServerBackend) or backend.flags.parallel > 1 or \
                backend.slot_save_path is None:
            return True
        frame = textgen_frame("chatbot_wrapper") if is_chat else textgen_frame("_generate_reply")
        if frame is None or self.reuse.cache.budget_bytes <= 0:
            return True
        prompt = chat_prompt(text, state, frame) if is_chat else text
        tokens = prompt_tokens(prompt, state)
        started = time.perf_counter()
        before = self._before(backend, tokens, holds_lock=not is_chat)
        if before is None:
            return True
        if before.note:
            log.info(f"Session Manager: API prompt of {before.prompt:,} tokens: {before.note} "
                     f"({before.prompt - before.reused:,} left to read; {time.perf_counter() - started:.2f} s)")
        threading.Thread(target=self._save_when_done, args=(ending_of(frame), backend, before.ticket),
                         name="session-manager-prompt-cache", daemon=True).start()
        return True

    def forget(self) -> None:
        """A page generation starts: the slot will hold its text, not an API request's."""
        self.reuse.forget()

    def _before(self, backend: LlamaServerBackend, tokens: list[int], holds_lock: bool) -> Before | None:
        """With textgen's generation lock, so that no other generation runs while the slot is changed.
        A completion's hook already runs under it; a chat's runs before textgen takes it."""
        from modules import shared

        lock = shared.generation_lock
        if holds_lock or lock is None:
            return self.reuse.before(backend, tokens)
        if not lock.acquire(timeout=LOCK_WAIT_S):
            return None
        try:
            return self.reuse.before(backend, tokens)
        finally:
            lock.release()

    def _save_when_done(self, ended: Callable[[], bool] | None, backend: LlamaServerBackend, ticket: int) -> None:
        try:
            while ended is not None and not ended():
                time.sleep(POLL_SECONDS)
            self.host.wait_until_idle()
            self.reuse.after(backend, ticket)
        except Exception:  # a background cache step must never take textgen down
            log.exception("Session Manager: saving the API prompt into the prompt cache failed")

    def _check_recent(self) -> None:
        try:
            time.sleep(SETTLED_NS / 1e9)  # entries copied in just before the start are remembered once settled
            started = time.perf_counter()
            checked = self.reuse.cache.check_recent(min(self._budget(), CHECK_AT_START_MB * MiB))
            if checked:
                log.info(f"Session Manager: checked the {checked} most recent prompt cache entries "
                         f"({time.perf_counter() - started:.1f} s)")
        except Exception:  # a background cache step must never take textgen down
            log.exception("Session Manager: checking the prompt cache failed")

    def _budget(self) -> int:
        return max(0, self.settings.current.prompt_cache_mb) * MiB


def api_frame() -> FrameType | None:
    """The frame of textgen's API handler up the stack, or None for a page's generation."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name in API_FUNCTIONS and "/api/" in frame.f_code.co_filename.replace("\\", "/"):
            return frame
        frame = frame.f_back
    return None


def chat_prompt(text: str, state: dict[str, Any], frame: FrameType) -> str:
    """The prompt chatbot_wrapper builds next: its history so far, then the new message (``text``)."""
    from modules.chat import generate_chat_prompt

    history = frame.f_locals.get("output") or state.get("history")
    return generate_chat_prompt(text, state, _continue=False, history=history)


def prompt_tokens(prompt: str, state: dict[str, Any]) -> list[int]:
    """The tokens textgen's LlamaServer sends for ``prompt`` (its encode, with the request's BOS setting)."""
    from modules import shared

    return [int(t) for t in shared.model.encode(prompt, add_bos_token=state.get("add_bos_token", True))]
