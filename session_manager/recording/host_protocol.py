"""What Session Manager needs from the web UI it runs in (textgen or the demo host)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..models import Checkpoint, HostLink, ModelInfo

if TYPE_CHECKING:
    from ..kvstate import KVBackend
    from .page_mirror import Page


class Host(Protocol):
    def model_info(self) -> ModelInfo:
        """The model loaded now, with its loader and settings (a checkpoint keeps it)."""
        ...

    def is_generating(self) -> bool: ...

    def kv_backend(self) -> KVBackend | None:
        """The running engine's KV snapshots, or None when the model cannot give any."""
        ...

    def tokenize(self, text: str) -> list[int] | None:
        """``text`` exactly as the engine will read it, or None when no model is loaded."""
        ...

    def load_model(self, model: ModelInfo) -> str:
        """Load a checkpoint's model; returns what happened, in words."""
        ...

    def page_restored(self, page: Page, checkpoint: Checkpoint) -> None:
        """A restore put ``checkpoint`` into ``page``: make the host's own saved state agree."""
        ...

    def loadable_texts(self, view: str, link: HostLink | None) -> set[str]:
        """Texts the host itself may put into a page of ``view`` that shows ``link`` (its saved prompt): a
        change to one of them is a load, not the user's edit."""
        ...

    def saved_work_folder(self) -> Path | None:
        """Where the host keeps work of its own that can be imported (textgen's user_data), or None."""
        ...

    def session_opened(self, page: Page) -> None:
        """The page now shows an existing session (a chat the user opened): warm the engine up if useful."""
        ...
