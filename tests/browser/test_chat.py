"""The demo's Chat tab in a real browser: replies saved, a rewind, a restart, and the next message reading
only its own turn (the demo logs how many prompt tokens its engine read for each reply)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import open_app, write_user_settings
from demo_server import DemoServer
from playwright.sync_api import Page, expect
from ui_helpers import choose, open_tab, step, visible, wait_for

from session_manager.store import SessionStore

pytestmark = pytest.mark.browser
QUESTIONS = ["Name a lighthouse in Norway.", "How tall is it?", "Who kept it?", "Tell me a long story about it.",
             "What happened next?"]
READ = re.compile(r"Engine read (\d+) of (\d+) prompt tokens")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("chat") / "data"
    write_user_settings(data, autosave_interval=900)
    return data


def chat_status(page: Page):
    return visible(page, ".sm-chat-bar .sm-status")


def replies(data_dir: Path) -> int:
    store = SessionStore(data_dir)
    return sum(len(store.checkpoint_ids(row.id)) for row in store.list_sessions() if row.meta.mode == "chat")


def send(page: Page, data_dir: Path, text: str, stop: bool = False) -> None:
    """Send a message and wait until its reply is saved (the store has one more chat checkpoint)."""
    before = replies(data_dir)
    earlier_replies = page.locator("#sm-demo-chat .bot-row").count()
    page.locator("#chat-input textarea").fill(text)
    page.click("#chat-send")
    if stop:
        # The new reply has begun: any visible character, whatever the model writes.
        reply = page.locator("#sm-demo-chat .bot-row").nth(earlier_replies)
        expect(reply).to_contain_text(re.compile(r"\S"), timeout=60_000)
        page.click("#chat-stop")
    # 180 s: a long reply on a busy 2-core machine
    wait_for(lambda: replies(data_dir) != before, 180, f"the reply to {text!r} was not saved", interval=0.2)
    expect(chat_status(page)).to_contain_text("Reply saved", timeout=30_000)


def engine_reads(demo: DemoServer) -> list[tuple[int, int]]:
    return [(int(m[1]), int(m[2])) for line in demo.stderr_lines if (m := READ.search(line))]


def test_chat_rewind_restart_and_the_next_message_reads_only_its_turn(demo: DemoServer, data_dir: Path,
                                                                      context) -> None:
    page = context.new_page()
    open_app(page, demo.url)
    open_tab(page, "Chat")
    for number, question in enumerate(QUESTIONS, start=1):
        send(page, data_dir, question, stop=number == 4)
    expect(page.locator("#sm-demo-chat .message")).to_have_count(10)

    choose(page, ".sm-chat-bar .sm-picker", "turn 2 ")
    visible(page, ".sm-chat-bar .sm-restore").click()
    expect(chat_status(page)).to_contain_text("Restored", timeout=30_000)
    expect(page.locator("#sm-demo-chat .message")).to_have_count(4)
    step(page, ".sm-chat-bar .sm-forward", "Forward to")  # the rewind is a move along the history
    expect(page.locator("#sm-demo-chat .message")).to_have_count(6)
    step(page, ".sm-chat-bar .sm-back", "Back to")
    expect(page.locator("#sm-demo-chat .message")).to_have_count(4)
    page.close()

    demo.stop()
    demo.start()
    page = context.new_page()
    open_app(page, demo.url)
    open_tab(page, "Chat")
    expect(page.locator("#sm-demo-chat .message")).to_have_count(4, timeout=30_000)  # the rewound chat is back
    send(page, data_dir, "And the lamp?")
    read, prompt = engine_reads(demo)[-1]
    assert read <= 40 < prompt, f"the first message after a restart read {read} of {prompt} prompt tokens"
