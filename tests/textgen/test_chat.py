"""textgen's Chat tab: every reply is a checkpoint, the timeline rewinds, and after a restart the next
message reads only the new turn (llama-server's own counters say how many prompt tokens it evaluated).

One textgen for the module (restarted once by the test), instruct mode, short replies.
"""

from __future__ import annotations

import json
import re

from playwright.sync_api import Page, expect

from .textgen_page import choose_entry, goto_loaded, open_tab, poll, press_stop, visible, wait_for
from .textgen_server import TextgenServer

TEXTGEN = {"extra_flags": "--metrics", "settings": {"mode": "instruct", "auto_max_new_tokens": False,
                                                     "max_new_tokens": 24}}
QUESTIONS = ["Name a lighthouse on the coast of Norway.", "How tall is it?", "Who kept it in winter?",
             "Tell me about the storm of 1953, in detail.", "What happened to the keeper afterwards?"]
NEW_TURN_TOKENS = 40  # a short question in the instruction template, not the whole chat


def open_chat(page: Page, url: str) -> None:
    goto_loaded(page, url)
    open_tab(page, "Chat")
    page.locator("#chat-input textarea").wait_for(state="visible")
    expect(visible(page, ".sm-chat-bar")).to_be_visible()


def send(page: Page, text: str, stop: bool = False) -> None:
    """Send a message; wait until the reply has ended (Stop gone, Send back), optionally stopping it early."""
    earlier_replies = page.locator("#chat .assistant-message").count()
    page.locator("#chat-input textarea").fill(text)
    page.locator("#Generate").click()
    expect(visible(page, "#stop")).to_have_count(1, timeout=30_000)
    if stop:
        # The new reply has begun: any visible character, since a small model may answer with brackets alone.
        reply = page.locator("#chat .assistant-message").nth(earlier_replies)
        expect(reply).to_contain_text(re.compile(r"\S"), timeout=60_000)
        press_stop(page)  # a short reply may already have ended by itself; its checkpoint is asserted all the same
    expect(visible(page, "#stop")).to_have_count(0, timeout=60_000)
    expect(page.locator("#Generate")).to_be_visible()


def chat_sessions(textgen: TextgenServer) -> list:
    store = textgen.store()
    return [row for row in store.list_sessions() if row.meta.link and row.meta.link.kind == "textgen-chat"]


def replies(textgen: TextgenServer) -> list:
    """The chat session's checkpoints, oldest first."""
    rows = chat_sessions(textgen)
    if not rows:
        return []
    store = textgen.store()
    return sorted(store.list_checkpoints(rows[0].id), key=lambda c: c.created)


def history_file(textgen: TextgenServer, unique_id: str) -> dict:
    path = textgen.user_data / "logs" / "instruct" / f"{unique_id}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def test_replies_rewind_restart_and_the_next_message_reads_only_the_new_turn(textgen: TextgenServer,
                                                                             context) -> None:
    page = context.new_page()
    open_chat(page, textgen.url)
    for number, question in enumerate(QUESTIONS, start=1):
        send(page, question, stop=number == 4)  # the fourth reply is stopped mid-way
        wait_for(lambda n=number: len(replies(textgen)) >= n, 30, f"reply {number} was not saved")
    saved = replies(textgen)
    assert [len(c.history["internal"]) for c in saved] == [1, 2, 3, 4, 5]
    assert all(c.mode == "chat" and c.kv is not None for c in saved), [c.kv for c in saved]
    unique_id = saved[-1].chat.unique_id
    assert unique_id and history_file(textgen, unique_id)["internal"] == saved[-1].history["internal"]

    # Rewind three turns: the timeline's entry of turn 2, then Rewind.
    choose_entry(page, ".sm-chat-bar .sm-picker", "turn 2 ")
    visible(page, ".sm-chat-bar .sm-restore").click()
    expect(visible(page, ".sm-chat-bar .sm-status")).to_contain_text("Restored", timeout=20_000)
    expect(page.locator("#chat .user-message")).to_have_count(2, timeout=30_000)
    assert history_file(textgen, unique_id)["internal"] == saved[1].history["internal"]  # textgen's own file
    later = [c for c in replies(textgen) if len(c.history["internal"]) > 2]
    assert len(later) >= 3, "the turns after the rewind must stay reachable on the timeline"

    page.close()
    textgen.restart()
    page = context.new_page()
    open_chat(page, textgen.url)
    expect(page.locator("#chat .user-message")).to_have_count(2, timeout=20_000)  # the chat came back
    before = textgen.llama_metrics()["llamacpp:prompt_tokens_total"]
    send(page, "And the lamp itself?")
    read = textgen.llama_metrics()["llamacpp:prompt_tokens_total"] - before
    prompt_tokens = poll(lambda: [c for c in replies(textgen) if len(c.history["internal"]) == 3
                                  and c.created > saved[-1].created], 30)[-1].kv.n_tokens
    print(f"\nThe first message after a restart read {read:.0f} prompt tokens of {prompt_tokens}")
    assert read <= NEW_TURN_TOKENS, f"the first message after a restart re-read {read:.0f} of {prompt_tokens} tokens"
    timeline = visible(page, ".sm-chat-bar .sm-picker").locator("input")
    expect(timeline).to_have_value(re.compile(r"turn 3 · reply"), timeout=30_000)  # the newest reply, shown
