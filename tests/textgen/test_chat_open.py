"""Every way a chat becomes the one on show in textgen loads its KV snapshot into the idle llama-server, so the
next message reads only the new turn (issue 20.3): textgen's chat list, its mode switch, its character switch,
a new browser tab, and Branch. (A restart: tests/textgen/test_chat.py.)

Before each way is tried, the engine is made to hold other text (another chat, or a Notebook generation), and
llama-server keeps no RAM copy of earlier prompts (``--cache-ram 0``): only the snapshot can spare the re-read.
llama-server's own counter of prompt tokens says how many the next message read. One textgen for the module,
short replies; the tests run in order, each on the chats the ones before made.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import BrowserContext, Locator, Page, expect
from ui_helpers import choose  # tests/browser, put on the path by textgen_page

from session_manager.chat_history import rows

from .test_chat import open_chat, send
from .textgen_page import INPUT, button, open_tab, start_new_chat, visible, wait_for, wait_until_idle
from .textgen_server import TextgenServer

TEXTGEN = {"extra_flags": "--metrics --cache-ram 0",
           "settings": {"mode": "instruct", "auto_max_new_tokens": False, "max_new_tokens": 12}}
NEW_TURN_TOKENS = 40  # a short question in the chat's template, not the whole chat
LONG_CHAT_TOKENS = 80  # the chats below are longer than this: a full re-read cannot pass for a warm start
_pages: dict[str, Page] = {}


def chat_sessions(textgen: TextgenServer) -> dict[str, Any]:
    """{textgen chat id: its session row}."""
    return {row.meta.link.name: row for row in textgen.store().list_sessions()
            if row.meta.link and row.meta.link.kind == "textgen-chat"}


def shown_chat(page: Page) -> str:
    """The id of the chat textgen shows (its chat list's selected entry)."""
    return page.locator("#past-chats input:checked").get_attribute("value") or ""


def say(textgen: TextgenServer, page: Page, text: str) -> Any:
    """Send a message and wait until its reply is saved (with its KV snapshot, before anything else is sent)."""
    send(page, text)
    chat_id = wait_for(lambda: shown_chat(page), 20, "textgen shows no chat id after the reply")

    def saved() -> Any:
        return next((c for c in reversed(_saved_turns(textgen, chat_id))
                     if rows(c.history) and text in rows(c.history)[-1][0] and c.kv is not None), None)
    return wait_for(saved, 60, f"the reply to {text!r} was not saved with its KV snapshot")


def send_and_count(textgen: TextgenServer, page: Page, text: str) -> tuple[float, int]:
    """Send a message in the chat on show: (prompt tokens llama-server read for it, tokens its saved reply holds)."""
    before = textgen.llama_metrics()["llamacpp:prompt_tokens_total"]
    saved = say(textgen, page, text)
    read = textgen.llama_metrics()["llamacpp:prompt_tokens_total"] - before
    return read, saved.kv.n_tokens


def assert_warm(textgen: TextgenServer, page: Page, way: str, text: str) -> None:
    read, length = send_and_count(textgen, page, text)
    print(f"\n{way}: the next message read {read:.0f} prompt tokens of {length}")
    assert length > LONG_CHAT_TOKENS, f"the chat is too short ({length} tokens) to tell a warm start"
    assert read <= NEW_TURN_TOKENS, f"{way}: the next message re-read {read:.0f} of {length} tokens"


def engine_reads_other_text(textgen: TextgenServer, page: Page) -> None:
    """A Notebook generation, saved (so the engine has finished it): the engine's cache is no chat's afterwards."""
    saved = len(_text_checkpoints(textgen))
    open_tab(page, "Notebook")
    page.locator(INPUT).fill("A short list of Norwegian islands:")
    button(page, "Generate").click()
    wait_for(lambda: len(_text_checkpoints(textgen)) > saved, 60, "the Notebook generation was not saved")
    wait_until_idle(page)
    open_tab(page, "Chat")


def choose_mode(page: Page, mode: str) -> None:
    """textgen's Mode radio in the chat controls (its sidebar is opened first when closed)."""
    with chat_controls(page):
        page.locator(f"#chat-mode label:has(input[value='{mode}'])").click()


def user_messages(page: Page) -> Locator:
    """The user's messages on show, in instruct mode's layout or in chat mode's."""
    return page.locator("#chat .user-message, #chat .message:has(.circle-you)")


def shown_turns(page: Page) -> int:
    """How many messages of the user the chat on show holds (once textgen has drawn them after a reply)."""
    expect(user_messages(page)).not_to_have_count(0, timeout=20_000)
    return user_messages(page).count()


def _text_checkpoints(textgen: TextgenServer) -> list[Any]:
    store = textgen.store()
    return [c for row in store.list_sessions() if row.meta.link and row.meta.link.kind == "textgen-prompt"
            for c in store.list_checkpoints(row.id)]


def _saved_turns(textgen: TextgenServer, chat_id: str) -> list[Any]:
    row = chat_sessions(textgen).get(chat_id)
    if row is None:
        return []
    return sorted(textgen.store().list_checkpoints(row.id), key=lambda c: c.created)


def _page(context: BrowserContext, textgen: TextgenServer) -> Page:
    if "main" not in _pages or _pages["main"].is_closed():
        _pages["main"] = context.new_page()
        open_chat(_pages["main"], textgen.url)
    return _pages["main"]


def test_a_chat_picked_in_textgens_chat_list(textgen: TextgenServer, context: BrowserContext) -> None:
    page = _page(context, textgen)
    say(textgen, page, "Name a lighthouse on the coast of Norway, and say why it is known.")
    say(textgen, page, "How tall is it, and when was it built?")
    first = shown_chat(page)
    start_new_chat(page)
    say(textgen, page, "Name one river in France.")  # the engine now holds this other chat
    wait_for(lambda: shown_chat(page) in chat_sessions(textgen), 60, "the second chat got no session")
    page.locator(f"#past-chats label:has(input[value='{first}'])").click()
    expect(user_messages(page)).to_have_count(2, timeout=20_000)
    assert_warm(textgen, page, "a chat picked in the chat list", "Who kept it in winter?")


def test_a_chat_opened_by_switching_textgens_mode(textgen: TextgenServer, context: BrowserContext) -> None:
    page = _page(context, textgen)
    instruct_chat = shown_chat(page)
    choose_mode(page, "chat")
    expect(user_messages(page)).to_have_count(0, timeout=20_000)
    say(textgen, page, "Tell me about the old harbour of Bergen and its wooden houses.")
    say(textgen, page, "Which of them burned, and when?")
    chat_mode_chat = shown_chat(page)
    choose_mode(page, "instruct")  # back to the instruct chat, while the engine holds the chat-mode chat
    expect(user_messages(page)).to_have_count(3, timeout=20_000)
    assert shown_chat(page) == instruct_chat
    assert_warm(textgen, page, "the instruct chat opened by the mode switch", "And in summer?")
    choose_mode(page, "chat")
    expect(user_messages(page)).to_have_count(2, timeout=20_000)
    assert shown_chat(page) == chat_mode_chat
    assert_warm(textgen, page, "the chat-mode chat opened by the mode switch", "Were they rebuilt?")


def test_a_chat_opened_in_a_new_browser_tab(textgen: TextgenServer, context: BrowserContext) -> None:
    page = _page(context, textgen)
    chat_id = shown_chat(page)
    engine_reads_other_text(textgen, page)
    second = context.new_page()
    open_chat(second, textgen.url)  # textgen shows the chat the first tab left open
    expect(user_messages(second)).to_have_count(3, timeout=20_000)
    assert shown_chat(second) == chat_id
    assert_warm(textgen, second, "the chat in a new tab", "Who lives there now?")
    second.close()


def test_a_chat_opened_by_switching_character(textgen: TextgenServer, context: BrowserContext) -> None:
    page = _page(context, textgen)
    chat_id = shown_chat(page)
    turns = shown_turns(page)
    choose_character(page, "Example")
    expect(user_messages(page)).to_have_count(0, timeout=20_000)
    say(textgen, page, "Hello! What do you like to talk about?")  # the engine now holds the other character's chat
    choose_character(page, "Assistant")
    expect(user_messages(page)).to_have_count(turns, timeout=20_000)
    assert shown_chat(page) == chat_id
    assert_warm(textgen, page, "the chat opened by the character switch", "What is the oldest one?")


def test_a_branch_of_a_chat(textgen: TextgenServer, context: BrowserContext) -> None:
    page = _page(context, textgen)
    chat_id = shown_chat(page)
    turns = shown_turns(page)
    engine_reads_other_text(textgen, page)
    visible(page, "#Branch").click()
    wait_for(lambda: shown_chat(page) not in ("", chat_id), 20, "Branch opened no new chat")
    expect(user_messages(page)).to_have_count(turns, timeout=20_000)
    assert_warm(textgen, page, "a branch of the chat", "And the newest one?")


def choose_character(page: Page, name: str) -> None:
    """textgen's Character menu (in the chat controls in chat mode)."""
    with chat_controls(page):
        choose(page, "#character-menu", name)


@contextmanager
def chat_controls(page: Page) -> Iterator[None]:
    """textgen's chat controls sidebar, opened for what is done inside (a narrow window keeps it closed)."""
    hidden = page.locator("#chat-controls.sidebar-hidden").count() > 0
    if hidden:
        page.locator("#chat-controls-toggle").click()
        expect(page.locator("#chat-controls.sidebar-shown")).to_have_count(1)
    yield
    if hidden:
        page.locator("#chat-controls-toggle").click()
        expect(page.locator("#chat-controls.sidebar-hidden")).to_have_count(1)


def test_a_branch_opened_by_switching_mode_after_a_restart(textgen: TextgenServer, context: BrowserContext) -> None:
    """The issue's own steps (textgen comes back, a message in instruct mode, then mode "chat"), where the chat
    that opens is a Branch made before the restart with no message of its own: it has no session yet."""
    page = _page(context, textgen)
    chat_id = shown_chat(page)
    visible(page, "#Branch").click()
    branch = wait_for(lambda: (shown := shown_chat(page)) not in ("", chat_id) and shown, 20,
                      "Branch opened no new chat")
    choose_mode(page, "instruct")
    expect(page.locator("#chat[data-mode='instruct']")).to_have_count(1, timeout=20_000)
    page.close()
    textgen.restart()
    page = _page(context, textgen)
    choose_mode(page, "instruct")
    expect(page.locator("#chat[data-mode='instruct']")).to_have_count(1, timeout=20_000)
    say(textgen, page, "One more question about it.")  # the engine holds the instruct chat
    choose_mode(page, "chat")
    wait_for(lambda: shown_chat(page) == branch, 20, "mode chat did not open the Branch, textgen's newest chat")
    shown_turns(page)
    assert branch not in chat_sessions(textgen)
    assert_warm(textgen, page, "a Branch opened by the mode switch after a restart", "Is it still there?")
