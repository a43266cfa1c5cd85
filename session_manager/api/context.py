"""What the routes work with: the store, the key, the engine (when a model runs here) and the size limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..formats.session_archive import MAX_IMPORT_BYTES
from ..models import Checkpoint
from ..recording.recorder import RestoreResult
from ..store import SessionStore
from ..store.layout import MAX_CHECKPOINT_BYTES


class Engine(Protocol):
    """The running model a restore puts a checkpoint into (textgen's, through the recorder)."""

    def is_idle(self) -> bool:
        """No generation runs (one that is just ending is waited for a moment: a client's own request)."""
        ...

    def restore(self, session_id: str, checkpoint: Checkpoint, load_model: bool) -> RestoreResult: ...

    def save_with_snapshot(self, session_id: str, checkpoint: Checkpoint) -> tuple[Checkpoint, str]:
        """Save the checkpoint with the engine's KV cache for its text; a note says why when there is none."""
        ...


@dataclass(frozen=True)
class Limits:
    """Bodies larger than these are refused (413) before they are read."""

    json_bytes: int = MAX_CHECKPOINT_BYTES  # as large as the store reads; the store refuses a save over 16 MB
    upload_bytes: int = MAX_IMPORT_BYTES  # an import: the CLI's own limit for what a file unpacks to


@dataclass(frozen=True)
class ApiContext:
    """Callables, so that a host can hand over a new store or engine (textgen re-runs setup()) without
    mounting the routes again."""

    store: Callable[[], SessionStore]
    api_key: Callable[[], str | None] = lambda: None
    engine: Callable[[], Engine | None] = lambda: None
    limits: Limits = field(default_factory=Limits)
