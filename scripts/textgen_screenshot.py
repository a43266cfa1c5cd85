"""Screenshots of Session Manager inside the real textgen: docs/textgen_default.png (the Default view
after a Stop, with the quick bar) and docs/textgen_chat.png (a chat with its timeline under the chat box).

Run: PYTHONPATH=tests .venv/bin/python scripts/textgen_screenshot.py

Uses the same textgen as the tests (tests/textgen), on a temporary user data folder, in headless Chromium.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "browser")]

from demo_server import CHROMIUM_ARGS  # noqa: E402
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402
from textgen.textgen_page import (  # noqa: E402
    INPUT,
    OUTPUT,
    button,
    open_tab,
    open_textgen,
    status,
    stop_after_growth,
    visible,
    wait_for,
)
from textgen.textgen_server import TextgenServer, find_or_install, running  # noqa: E402

DOCS = ROOT / "docs"
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1400, "height": 900}
PROMPT = "The lighthouse keeper's log, winter of 1953.\n\nNovember 2nd. The storm came in from the west and"
QUESTIONS = ["Name a lighthouse on the coast of Norway.", "How tall is it?", "Who kept it in winter?"]
SETTINGS = {"show_two_notebook_columns": True, "mode": "chat", "auto_max_new_tokens": False,
            "max_new_tokens": 48}


def default_view(page: Page, url: str) -> None:
    open_textgen(page, url)
    page.locator(INPUT).fill(PROMPT)
    button(page, "Generate").click()
    expect(page.locator(OUTPUT)).to_have_value(re.compile(re.escape(PROMPT) + r".+", re.S), timeout=30_000)
    stop_after_growth(page, chars=160)
    expect(status(page)).to_contain_text("Saved on stop", timeout=15_000)
    page.mouse.move(0, 0)
    page.screenshot(path=str(DOCS / "textgen_default.png"), full_page=True)


def chat_view(page: Page, server: TextgenServer) -> None:
    open_tab(page, "Chat")
    page.locator("#chat-input textarea").wait_for(state="visible")
    for number, question in enumerate(QUESTIONS, start=1):
        page.locator("#chat-input textarea").fill(question)
        page.locator("#Generate").click()
        wait_for(lambda n=number: _chat_replies(server) >= n, 30, f"reply {number} was not saved")
    bar = visible(page, ".sm-chat-bar")
    expect(bar.locator(".sm-picker input")).to_have_value(re.compile(r"turn 3 · reply"), timeout=15_000)
    page.mouse.move(0, 0)
    page.screenshot(path=str(DOCS / "textgen_chat.png"))


def _chat_replies(server: TextgenServer) -> int:
    store = server.store()
    return sum(row.n_checkpoints for row in store.list_sessions() if row.meta.mode == "chat")


def main() -> int:
    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sm-textgen-shot-") as workdir:
        server = TextgenServer(find_or_install(), Path(workdir), settings=SETTINGS)
        with running(server), sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_context(viewport=VIEWPORT).new_page()
            default_view(page, server.url)
            chat_view(page, server)
            browser.close()
    print(f"wrote {DOCS / 'textgen_default.png'} and {DOCS / 'textgen_chat.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
