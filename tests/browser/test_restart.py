"""Kill the host, start it again on the same data: the page comes back by itself."""

from __future__ import annotations

import pytest
from conftest import open_app
from demo_server import DemoServer
from playwright.sync_api import expect
from ui_helpers import INPUT, OUTPUT, generate_and_stop, status

pytestmark = pytest.mark.browser


def test_restart_auto_loads_the_last_work(demo: DemoServer, context) -> None:
    page = context.new_page()
    open_app(page, demo.url)
    prompt = "The old sailor told the children a story about"
    output = generate_and_stop(page, prompt)
    expect(status(page)).to_contain_text("Saved on stop")
    page.close()

    demo.stop()  # SIGTERM: no goodbye autosave, what is on disk is all there is
    demo.start()

    page = context.new_page()
    open_app(page, demo.url)
    expect(page.locator(INPUT)).to_have_value(prompt)
    expect(page.locator(OUTPUT)).to_have_value(output)
    expect(status(page)).to_contain_text("Loaded “")
