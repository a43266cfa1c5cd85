"""A first run with the shipped settings (KV snapshots "always"): Stop still saves, with its KV cache."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from ui_helpers import dropdown_input, generate_and_stop, status

pytestmark = pytest.mark.browser


def test_stop_saves_with_a_kv_snapshot(page: Page) -> None:
    generate_and_stop(page, "It was a dark and stormy night;")
    expect(status(page)).to_contain_text("Saved on stop", timeout=8000)
    expect(status(page)).to_contain_text(re.compile(r"with its KV cache \([\d,]+ tokens\)"))
    expect(dropdown_input(page, ".sm-picker")).to_have_value(re.compile(r"· stop · KV \d+ tok$"))
