"""KV snapshots of an in-process ``llama_cpp.Llama`` (llama-cpp-python).

Uses the per-sequence state calls (llama_state_seq_get_data / set_data on seq 0), which
copy only the KV cells of the sequence; ``Llama.save_state()`` would also copy a logits
array that can be hundreds of MB.

After set_data the Llama object's own bookkeeping is set (``input_ids``, ``n_tokens``,
``_requires_eval``), so that the next ``generate()`` / ``create_completion()`` finds the
restored tokens as its common prefix, keeps them and evaluates only what follows (at least
one token, to refresh the logits it samples from).
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import KVError
from ..models import KVRef, ModelFingerprint
from . import RestoreOutcome, check_held_tokens, check_restorable, common_prefix, match_prefix
from .blob import read_blob_meta, read_blob_state, write_blob
from .fingerprint import FLASH_ATTN_NAMES, GGML_TYPE_NAMES, make_fingerprint

if TYPE_CHECKING:
    from llama_cpp import Llama

NAME = "llama-cpp-python"


class LlamaCppPythonBackend:
    """Snapshots of sequence ``seq_id`` of ``llm``; ``is_busy`` tells when a generation is running."""

    name = NAME

    def __init__(self, llm: Llama, *, seq_id: int = 0, is_busy: Callable[[], bool] | None = None,
                 compression: str = "none") -> None:
        import llama_cpp

        self._lib: Any = llama_cpp
        self.llm = llm
        self.seq_id = seq_id
        self._is_busy = is_busy or (lambda: False)
        self._compression = compression

    # ----- the KVBackend protocol ---------------------------------------------------------

    def fingerprint(self) -> ModelFingerprint:
        params = self.llm.context_params
        return make_fingerprint(
            Path(self.llm.model_path),
            n_ctx=self.llm.n_ctx(),
            type_k=GGML_TYPE_NAMES.get(params.type_k, f"type{params.type_k}"),
            type_v=GGML_TYPE_NAMES.get(params.type_v, f"type{params.type_v}"),
            flash_attn=FLASH_ATTN_NAMES.get(params.flash_attn_type, str(params.flash_attn_type)),
            swa_full=bool(params.swa_full),
            state_format=self.state_format(),
        )

    def snapshot(self, dest: Path, token_ids: Sequence[int] | None = None) -> KVRef:
        self._refuse_if_busy("save")
        held = self.held_tokens()
        check_held_tokens(held, token_ids, self.rewind_limit())
        self._drop_stale_cells(len(held))
        size = self.state_size()
        buffer = (ctypes.c_uint8 * size)()
        written = self._lib.llama_state_seq_get_data(self.llm.ctx, buffer, size, self.seq_id)
        if written == 0:
            raise KVError("llama.cpp could not copy its KV cache; no KV snapshot was taken")
        meta = write_blob(dest, backend=self.name, fingerprint=self.fingerprint(), token_ids=held,
                          state=memoryview(buffer)[:written], compression=self._compression)  # type: ignore[arg-type]  # KVBlobMeta checks it
        return KVRef(file=dest.name, bytes=dest.stat().st_size, n_tokens=len(held),
                     fingerprint=meta.fingerprint.digest(), backend=self.name)

    def restore(self, blob: Path, prompt_token_ids: Sequence[int]) -> RestoreOutcome:
        started = time.perf_counter()
        meta = read_blob_meta(blob)
        reason = check_restorable(meta, self.fingerprint(), prompt_token_ids, backend=self.name,
                                  rewind_limit=self.rewind_limit())
        if reason:
            return RestoreOutcome(False, reason, 0, time.perf_counter() - started)
        self._refuse_if_busy("restore")
        checked, state = read_blob_state(blob)  # every check passes before llama.cpp sees a byte
        if checked != meta:
            raise KVError(f"the KV snapshot {blob.name} changed while it was read")
        n = len(meta.token_ids)
        self._clear_cache()
        source = (ctypes.c_uint8 * len(state)).from_buffer(state)
        loaded = self._lib.llama_state_seq_set_data(self.llm.ctx, source, len(state), self.seq_id)
        if loaded == 0 or self._pos_max() != n - 1:
            self.reset()
            why = ("llama.cpp refused the saved state" if loaded == 0
                   else "the saved state does not hold the saved tokens")
            return RestoreOutcome(False, f"{why}; the cache was cleared and Continue will re-read the prompt", 0,
                                  time.perf_counter() - started)
        llm = self.llm
        llm.input_ids[:n] = meta.token_ids
        llm.n_tokens = n
        # The logits of the last token are not part of the state: make generate() replay it.
        llm._requires_eval = True
        reused = match_prefix(meta.token_ids, prompt_token_ids).shared
        return RestoreOutcome(True, "", n, time.perf_counter() - started, reused)

    def rewind_limit(self) -> int | None:
        """With a sliding window the restored state keeps only the window's last positions in those layers: the
        next generation may replay the last token, never go further back."""
        return 1 if int(self._lib.llama_model_n_swa(self.llm.model)) > 0 else None

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """In-process: idle as soon as the host's generation has returned."""
        deadline = time.monotonic() + timeout
        while self._is_busy():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    # ----- extras ---------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        """Tokens exactly as ``create_completion(text)`` builds its prompt (BOS, special tokens)."""
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=True))

    def held_tokens(self) -> list[int]:
        """The tokens whose KV the engine holds (what a snapshot would save)."""
        return [int(t) for t in self.llm.input_ids[: self.llm.n_tokens]]

    def state_size(self) -> int:
        """llama.cpp's own size of this sequence's state (what a raw state file would hold)."""
        return int(self._lib.llama_state_seq_get_size(self.llm.ctx, self.seq_id))

    def state_format(self) -> str:
        lib = self._lib
        return f"llama-cpp-python {lib.__version__} seq-state v{lib.LLAMA_STATE_SEQ_VERSION}"

    def reset(self) -> None:
        """Forget the cache: the next generation re-reads its whole prompt."""
        self._clear_cache()
        self.llm.n_tokens = 0
        self.llm._requires_eval = True

    def prepare_generation(self, prompt_token_ids: Sequence[int]) -> bool:
        """Reset when the prompt departs from the cache where sliding-window cells are gone.

        A restored state (and any state without --swa-full) keeps only the last n_swa positions of
        the sliding-window layers; llama-cpp-python would keep the common prefix anyway and decode
        with a partial window. Call before each generation; returns True when it reset.
        """
        n_swa = int(self._lib.llama_model_n_swa(self.llm.model))
        held = self.llm.n_tokens
        if n_swa <= 0 or held == 0:
            return False
        agree = common_prefix(self.held_tokens(), prompt_token_ids)
        keep = agree - 1 if agree == len(prompt_token_ids) else agree  # generate() replays one token
        if keep >= held - 1 or self._pos_min() <= max(0, keep - n_swa):
            return False
        self.reset()
        return True

    # ----- helpers --------------------------------------------------------------------------

    def _refuse_if_busy(self, action: str) -> None:
        if self._is_busy():
            raise KVError(f"a generation is running; {action} the KV cache when it has finished")

    def _memory(self) -> Any:
        return self._lib.llama_get_memory(self.llm.ctx)

    def _pos_max(self) -> int:
        return int(self._lib.llama_memory_seq_pos_max(self._memory(), self.seq_id))

    def _pos_min(self) -> int:
        return int(self._lib.llama_memory_seq_pos_min(self._memory(), self.seq_id))

    def _clear_cache(self) -> None:
        self._lib.llama_memory_seq_rm(self._memory(), self.seq_id, -1, -1)

    def _drop_stale_cells(self, n_tokens: int) -> None:
        # Llama.reset() keeps the cells and eval() drops them lazily; they must not be saved.
        if self._pos_max() >= n_tokens:
            self._lib.llama_memory_seq_rm(self._memory(), self.seq_id, n_tokens, -1)
