"""Fixtures for the real-textgen tests: the install, one textgen per module, Debian's Chromium.

A test module says how its textgen starts with a module-level ``TEXTGEN = dict(...)`` (the keyword
arguments of TextgenServer: api, extra_flags, settings, extension_in, patch_textgen). Every test
that fails gets the end of textgen's log in its report.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .textgen_install import TextgenInstall, TextgenUnavailable, find_or_install
from .textgen_server import TEST_SETTINGS, TextgenServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.textgen)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    server = getattr(item, "funcargs", {}).get("textgen")
    if report.failed and isinstance(server, TextgenServer):
        report.sections.append((f"textgen log ({server.log_path}, last lines)", server.log_tail(80)))


@pytest.fixture(scope="session")
def textgen_install(request: pytest.FixtureRequest) -> TextgenInstall:
    """textgen at the tested commit: $SESSION_MANAGER_TEXTGEN, or installed once into a cache folder."""
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def progress(line: str) -> None:
        with capture.global_and_fixture_disabled():
            print(line, file=sys.stderr, flush=True)

    try:
        install = find_or_install(progress)
    except TextgenUnavailable as exc:
        pytest.skip(str(exc))
    progress(f"\nReal-textgen tests run on {install.describe()}")
    return install


@pytest.fixture(scope="module")
def textgen(request: pytest.FixtureRequest, textgen_install: TextgenInstall,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[TextgenServer]:
    """One textgen per test module (two cores: never two at once), with the module's TEXTGEN options."""
    options = dict(getattr(request.module, "TEXTGEN", {}))
    options["settings"] = {**TEST_SETTINGS, **options.get("settings", {})}
    server = TextgenServer(textgen_install, tmp_path_factory.mktemp("textgen"), **options)
    try:
        yield server.start()
    finally:
        server.stop()
