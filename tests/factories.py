"""Shared test factories: a host without a model, recorders as after a restart, free ports."""

from __future__ import annotations

import socket
from pathlib import Path

from session_manager.app.workspace import Workspace
from session_manager.models import Checkpoint, ModelInfo
from session_manager.recording.page_mirror import Page, PageContent
from session_manager.recording.recorder import Recorder
from session_manager.settings import SettingsManager, load_shipped
from session_manager.store import SessionStore

CHROMIUM = Path("/usr/bin/chromium")


class TextOnlyHost:
    """A host with no KV engine: what textgen is with a loader that cannot snapshot."""

    def __init__(self) -> None:
        self.loaded: list[ModelInfo] = []
        self.restored: list[tuple[str, str]] = []
        self.opened: list[str | None] = []
        self.loads: set[str] = set()  # texts this host "loads" into new pages
        self.work_folder: Path | None = None
        self.generating = False
        self.current = ModelInfo(name="tiny.gguf", loader="llama.cpp", settings={"ctx_size": 2048})

    def model_info(self) -> ModelInfo:
        return self.current

    def is_generating(self) -> bool:
        return self.generating

    def kv_backend(self) -> None:
        return None

    def tokenize(self, text: str) -> list[int] | None:
        return None

    def load_model(self, model: ModelInfo) -> str:
        self.loaded.append(model)
        self.current = model
        return f"Loaded {model.name}."

    def page_restored(self, page: Page, checkpoint: Checkpoint) -> None:
        self.restored.append((page.tab_id, checkpoint.id))

    def session_opened(self, page: Page) -> None:
        self.opened.append(page.session_id)

    def loadable_texts(self, view: str, link: object) -> set[str]:
        return set(self.loads)

    def saved_work_folder(self) -> Path | None:
        return self.work_folder


def make_recorder(root: Path, host: object | None = None, **settings: object) -> Recorder:
    """A recorder over the store at ``root``, as after a (re)start: settings read from the store."""
    manager = SettingsManager(load_shipped())
    manager.attach_store(root)
    for key, value in settings.items():
        manager.set(key, value)
    return Recorder(SessionStore(root), manager, host or TextOnlyHost())


def make_workspace(root: Path, host: object | None = None, **settings: object) -> Workspace:
    return Workspace(make_recorder(root, host, **settings))


def typed(page: Page, input_text: str = "", output_text: str = "", **fields: object) -> Page:
    """The user typed this into the page."""
    page.update(by_user=True, input_text=input_text, output_text=output_text, **fields)
    return page


def content(input_text: str = "", output_text: str = "", **fields: object) -> PageContent:
    return PageContent(input_text=input_text, output_text=output_text, **fields)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
