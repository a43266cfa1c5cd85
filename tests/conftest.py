"""Shared fixtures: a real store in a temporary folder, a host without a model, a recorder over both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import CHROMIUM, TextOnlyHost, make_recorder

from session_manager.app.workspace import Workspace
from session_manager.recording.page_mirror import Page
from session_manager.recording.recorder import Recorder
from session_manager.settings import SettingsManager
from session_manager.store import SessionStore


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


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium through Playwright, one for the whole run (the demo and the real-textgen tests
    share it: a second Playwright could not start beside the first)."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    from browser.demo_server import CHROMIUM_ARGS  # the one list of flags, which the scripts use too

    # An assertion waits for the page's state; on a busy machine Gradio's queue may take longer than
    # Playwright's 5 s default to get there. A longer limit costs nothing when the state comes.
    sync_api.expect.set_options(timeout=20_000)
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
