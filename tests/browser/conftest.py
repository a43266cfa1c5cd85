"""Real-browser fixtures: the demo host as a subprocess, Debian's Chromium through Playwright."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from demo_server import DemoServer

from session_manager.ui.refresh import LOADED_SELECTOR


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def write_user_settings(data_dir: Path, **values: object) -> None:
    """User overrides in <data dir>/settings.json, as the panel's Settings accordion would save them."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "settings.json").write_text(json.dumps({"format_version": 1, "values": values}), encoding="utf-8")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser-store") / "data"


@pytest.fixture(scope="module")
def demo(data_dir: Path) -> Iterator[DemoServer]:
    """One demo process per test module (two cores: never two at once)."""
    server = DemoServer(data_dir)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def page(context, demo: DemoServer) -> Iterator[object]:
    page = context.new_page()
    open_app(page, demo.url)
    yield page


def open_app(page, url: str) -> None:
    """Open the demo and wait until the panel's load event has filled the page.

    Gradio runs load events after the first paint, and networkidle never comes (the panel ticks every
    3 s): the panel marks <body> once its load event's outputs are on the page.
    """
    page.goto(url)
    page.locator("#textbox-default textarea").wait_for(state="visible")
    page.locator(LOADED_SELECTOR).wait_for(state="attached")
