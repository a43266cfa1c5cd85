"""Shared fixtures: a real store in a temporary folder, a host without a model, a recorder over both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import TextOnlyHost, make_recorder

from session_manager.page import Page
from session_manager.recorder import Recorder
from session_manager.settings import SettingsManager
from session_manager.store import SessionStore
from session_manager.workspace import Workspace


@pytest.fixture
def host() -> TextOnlyHost:
    return TextOnlyHost()


@pytest.fixture
def recorder(tmp_path: Path, host: TextOnlyHost) -> Iterator[Recorder]:
    rec = make_recorder(tmp_path / "store", host)
    yield rec
    rec.timer.stop()


@pytest.fixture
def store(recorder: Recorder) -> SessionStore:
    return recorder.store


@pytest.fixture
def settings(recorder: Recorder) -> SettingsManager:
    return recorder.settings


@pytest.fixture
def workspace(recorder: Recorder) -> Workspace:
    return Workspace(recorder)


@pytest.fixture
def page(recorder: Recorder) -> Page:
    return recorder.page("tab-a")
