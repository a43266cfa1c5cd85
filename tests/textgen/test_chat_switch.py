"""textgen 4.9 goes on writing a chat reply while the user views another chat: the reply belongs to the
chat it was started in (issue 20.6). One textgen for the module, instruct mode, replies long enough to
switch chats while one is written.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from .test_chat import history_file, open_chat, send
from .textgen_page import start_new_chat, wait_for
from .textgen_server import AUTOSAVE_PASSED_S, TextgenServer

TEXTGEN = {"settings": {"mode": "instruct", "auto_max_new_tokens": False, "max_new_tokens": 160}}
V49 = "ed888c71"


def chat_checkpoints(textgen: TextgenServer) -> dict[str, list]:
    """{textgen chat id the session follows: its checkpoints, oldest first}."""
    store = textgen.store()
    return {row.meta.link.name: sorted(store.list_checkpoints(row.id), key=lambda c: c.created)
            for row in store.list_sessions() if row.meta.link and row.meta.link.kind == "textgen-chat"}


def test_a_reply_that_ends_after_a_switch_to_another_chat_is_saved_to_its_own_chat(textgen: TextgenServer,
                                                                                   context) -> None:
    if textgen.install.commit != V49:
        pytest.skip("only textgen 4.9 goes on writing a chat the user has left")
    page = context.new_page()
    open_chat(page, textgen.url)
    send(page, "Chat B: name one river in France, one word only.", stop=True)
    b_id = wait_for(lambda: next(iter(chat_checkpoints(textgen)), None), 30, "chat B's reply was not saved")

    start_new_chat(page)
    page.locator("#chat-input textarea").fill("Chat A: write a long story about a lighthouse keeper and a storm.")
    page.locator("#Generate").click()
    expect(page.locator("#chat .assistant-message").first).to_contain_text(re.compile(r"\S"), timeout=60_000)
    page.locator("#past-chats label").filter(has_text="Chat B").click()  # while A's reply is being written
    expect(page.locator("#chat .user-message").first).to_contain_text("Chat B", timeout=20_000)

    a_id = wait_for(lambda: next((cid for cid, cps in chat_checkpoints(textgen).items() if cid != b_id and cps), None),
                    240, "chat A's reply was never saved into a session of chat A")
    a_saved = chat_checkpoints(textgen)[a_id][-1]
    a_file = wait_for(lambda: (f := history_file(textgen, a_id))["internal"] and f["internal"][-1][1] and f, 60,
                      "textgen's own file of chat A holds no reply")
    assert a_saved.chat.unique_id == a_id
    assert a_saved.history["internal"][-1] == a_file["internal"][-1], "chat A's session lacks the reply textgen kept"
    b_saved = chat_checkpoints(textgen)[b_id]
    assert all(c.chat.unique_id == b_id for c in b_saved), [c.chat.unique_id for c in b_saved]
    assert [len(c.history["internal"]) for c in b_saved] == [1], "chat A's reply went into chat B's session"
    store = textgen.store()
    b_session = next(row.id for row in store.list_sessions() if row.meta.link and row.meta.link.name == b_id)
    time.sleep(AUTOSAVE_PASSED_S)  # an autosave of what chat B's page shows now would have been written
    autosave = store.read_autosave(b_session)
    assert autosave is None or autosave.history["internal"][0][0].startswith("Chat B"), \
        "chat B's autosave holds chat A's history"
