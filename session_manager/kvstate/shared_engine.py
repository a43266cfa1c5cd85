"""One engine, several users: a user's KV snapshot holds only that user's own text.

The engine's cache holds whatever it read last. When two users take turns, the cache a user's
save-on-stop would snapshot may already be another user's text (their generation started the
moment the first one ended). ``EngineTurns`` counts who read the engine last; ``GuardedBackend``
is one user's view of the engine that snapshots only while that user is the last reader, and
drops a snapshot if someone else's text reached the engine while it was being written, or if the
snapshot holds more than a few tokens beyond the user's own text (whoever read the engine).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import KVError
from ..models import KVRef, ModelFingerprint
from . import KVBackend, RestoreOutcome, common_prefix, read_blob_meta

NOT_YOURS = "another user's text has reached the shared model since"
FOREIGN_TOKENS = 4  # tokens past a user's own text a snapshot may hold (a Stop leaves one or two)


class EngineTurns:
    """Who read the shared engine last (None: an API call, or nobody yet), and how often it changed hands."""

    def __init__(self) -> None:
        self._turn = 0
        self._reader: str | None = None
        self._lock = threading.Lock()

    def read_by(self, login: str | None) -> None:
        with self._lock:
            self._turn += 1
            self._reader = login

    def now(self) -> tuple[int, str | None]:
        with self._lock:
            return self._turn, self._reader


class GuardedBackend:
    """``backend`` as user ``login`` sees it: snapshots of their own text only."""

    def __init__(self, backend: KVBackend, turns: EngineTurns, login: str) -> None:
        self.backend = backend
        self.turns = turns
        self.login = login
        self.name = backend.name

    def fingerprint(self) -> ModelFingerprint:
        return self.backend.fingerprint()

    def snapshot(self, dest: Path, token_ids: Sequence[int] | None = None) -> KVRef:
        turn, reader = self.turns.now()
        if reader != self.login:
            raise KVError(NOT_YOURS)
        if token_ids is None:
            raise KVError("the text could not be counted in tokens, so it cannot be told apart from other users'")
        ref = self.backend.snapshot(dest, token_ids)
        try:
            held = read_blob_meta(dest).token_ids
        except KVError:
            held = []
        # Also by content: beyond the user's own text the cache may hold only the token or two a Stop adds.
        if self.turns.now()[0] != turn or len(held) - common_prefix(held, token_ids) > FOREIGN_TOKENS:
            with contextlib.suppress(OSError):
                dest.unlink()
            raise KVError(NOT_YOURS)
        return ref

    def restore(self, blob: Path, prompt_token_ids: Sequence[int]) -> RestoreOutcome:
        self.turns.read_by(self.login)  # whatever happens, the engine's cache is no longer anyone else's
        return self.backend.restore(blob, prompt_token_ids)

    def wait_idle(self, timeout: float) -> bool:
        return self.backend.wait_idle(timeout)

    def rewind_limit(self) -> int | None:
        return self.backend.rewind_limit()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)
