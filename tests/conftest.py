"""Shared fixtures: a real store in a temporary folder, a host without a model."""

from __future__ import annotations

from pathlib import Path

import pytest

from session_manager.models import ModelInfo
from session_manager.recorder import Recorder
from session_manager.settings import SettingsManager, load_shipped
from session_manager.store import SessionStore


class TextOnlyHost:
    """A host with no model loaded: what textgen is before a model is picked."""

    def __init__(self) -> None:
        self.loaded: list[ModelInfo] = []
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


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / "store")


@pytest.fixture
def settings(store: SessionStore) -> SettingsManager:
    manager = SettingsManager(load_shipped())
    manager.attach_store(store.root)
    return manager


@pytest.fixture
def host() -> TextOnlyHost:
    return TextOnlyHost()


@pytest.fixture
def recorder(store: SessionStore, settings: SettingsManager, host: TextOnlyHost) -> Recorder:
    rec = Recorder(store, settings, host)
    yield rec
    rec.stop_autosave()
