"""Generations that end early in the real textgen: Stop at random moments, and a tab closed mid-generation.

One textgen for the module; generations are up to 400 tokens, so they are still running when stopped.
"""

from __future__ import annotations

import random
import re
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from .textgen_page import (
    INPUT,
    NOTEBOOK,
    OUTPUT,
    checkpoints,
    generate,
    goto_loaded,
    kv_usable,
    new_stop_checkpoint,
    open_tab,
    open_textgen,
    press_stop,
    set_parameter,
    show_two_columns,
    start_new_chat,
    status_about,
    stop_checkpoints,
    visible,
    wait_for,
    wait_until_idle,
)
from .textgen_server import TextgenServer

TEXTGEN = {"settings": {"mode": "instruct", "auto_max_new_tokens": False, "max_new_tokens": 400}}
STOPS = 20
REQUIRED = 19
SEED = 20261123


def test_stops_at_random_moments_keep_a_usable_kv_snapshot(textgen: TextgenServer, context) -> None:
    """Issue 7.1: at least 19 of 20 Stops keep a KV snapshot (the JSON names it and the blob is on disk)."""
    rng = random.Random(SEED)
    page = context.new_page()
    open_textgen(page, textgen.url)
    store = textgen.store()
    results = []
    try:
        _stop_repeatedly(page, store, rng, results)
    finally:
        show_two_columns(page, True)
    kept_count = sum(1 for *_, kept, _ in results if kept)
    stops = sum(1 for _, _, by_hand, _, _ in results if by_hand)
    print(f"\nKV snapshot kept after {kept_count} of {STOPS} generations ({stops} stopped by hand at random "
          f"moments, seed {SEED})")
    missing = "\n".join(f"  #{n} {view}{'' if by_hand else ' (ended by itself)'}: {said}"
                        for n, view, by_hand, kept, said in results if not kept)
    assert kept_count >= REQUIRED, f"only {kept_count} of {STOPS} kept a KV snapshot; the others said:\n{missing}"


def _stop_repeatedly(page, store, rng: random.Random, results: list) -> None:
    """Generate and Stop STOPS times, half in the Default view, half in the Notebook view."""
    for index in range(STOPS):
        notebook = index >= STOPS // 2  # the second half in the Notebook view
        if index == STOPS // 2:
            show_two_columns(page, False)
        seen = len(stop_checkpoints(store))
        generate(page, NOTEBOOK if notebook else INPUT, f"Story {index + 1}: the night the lighthouse went dark,")
        time.sleep(rng.uniform(0.0, 1.5))  # the random moment is the point here
        stopped_by_hand = press_stop(page)
        wait_until_idle(page)
        session_id, checkpoint = new_stop_checkpoint(store, seen)
        kept = kv_usable(store, session_id, checkpoint)
        said = status_about(page, checkpoint)
        results.append((index + 1, "Notebook" if notebook else "Default", stopped_by_hand, kept, said))


def test_closing_the_tab_during_a_generation_still_saves_it(textgen: TextgenServer, context) -> None:
    """Issue 7.6: a generation that ends for any reason is saved, also when its tab is closed."""
    page = context.new_page()
    open_textgen(page, textgen.url)
    if not page.locator(INPUT).is_visible():
        show_two_columns(page, True)
    set_parameter(page, "max_new_tokens", 80)  # still running when the tab closes, over soon after
    store = textgen.store()
    seen = len(stop_checkpoints(store))
    prompt = "A long letter from the keeper of the northern light, written on a stormy night:"
    generate(page, INPUT, prompt)
    expect(page.locator(OUTPUT)).not_to_have_value(prompt)
    page.close()
    _, checkpoint = new_stop_checkpoint(store, seen, timeout=30,
                                        what="closing the tab during a generation wrote no stop checkpoint")
    assert checkpoint.output_text.startswith(prompt) and len(checkpoint.output_text) > len(prompt)


def test_closing_the_tab_during_a_chat_reply_still_saves_it(textgen: TextgenServer, context) -> None:
    """Issue 20.0: a chat reply cut short by closing its tab is saved as far as it went (Python 3.13 drops a
    closed generator's locals: the save must not need textgen's frame)."""
    page = context.new_page()
    box, store = new_chat_with_one_reply(page, textgen, "Name a famous lighthouse.")
    question = "Tell me a long story about the keeper of the northern light, on a stormy night."
    turns = 1
    for _ in range(3):  # a reply that ends by itself before the tab can close cuts nothing short: ask again
        turns += 1
        earlier = page.locator("#chat .assistant-message").count()
        box.fill(question)
        page.locator("#Generate").click()
        reply = page.locator("#chat .assistant-message").nth(earlier)
        expect(reply).to_contain_text(re.compile(r"[A-Za-z]"), timeout=60_000)
        shown = re.findall(r"[A-Za-z]+", reply.inner_text())[:3]  # the reply's first words, as the page showed them
        if visible(page, "#stop").count() == 1:
            break
        chat_idle(page)
    else:
        pytest.fail("three replies in a row ended by themselves before the tab could be closed")
    page.close()
    ((_, checkpoint),) = wait_for(lambda: chat_turns(store, turns), 60,
                                  "closing the tab during a chat reply wrote no checkpoint")
    asked, answered = checkpoint.history["internal"][-1]
    assert checkpoint.trigger == "stop" and asked == question
    assert all(word in answered for word in shown), (shown, answered)


def test_a_stopped_chat_reply_is_saved_at_once_with_its_kv_when_the_next_message_follows_at_once(
        textgen: TextgenServer, context) -> None:
    """Issue 20.5: Stop a chat reply and send the next message straight away: the stopped reply is saved within
    seconds, with its KV snapshot, not once the next reply has ended (up to 400 tokens: well over a minute here)."""
    page = context.new_page()
    box, store = new_chat_with_one_reply(page, textgen, "Tell me a long story about a lighthouse keeper.")
    turns = 1
    for _ in range(3):  # a reply that ends by itself before Stop can be pressed stops nothing: ask again
        turns += 1
        earlier = page.locator("#chat .assistant-message").count()
        box.fill("Tell me more about the storm, in detail.")
        page.locator("#Generate").click()
        expect(page.locator("#chat .assistant-message").nth(earlier)).to_contain_text(re.compile(r"\S"),
                                                                                     timeout=60_000)
        box.fill("And then? Go on with the whole story.")
        if page.evaluate(STOP_THEN_SEND_JS):  # Stop, and Send the moment it is back: before any watcher can save
            break
        chat_idle(page)
    else:
        pytest.fail("three replies in a row ended by themselves before Stop could be pressed")
    sent = time.monotonic()
    saved = wait_for(lambda: chat_turns(store, turns), SAVED_WITHIN_S,
                     f"the stopped reply was not saved within {SAVED_WITHIN_S} s of the next message")
    took = time.monotonic() - sent
    said = visible(page, ".sm-chat-bar .sm-status").inner_text()
    # Stop it once its text shows: a Stop pressed before textgen starts the reply is forgotten by textgen.
    expect(page.locator("#chat .assistant-message").nth(turns)).to_contain_text(re.compile(r"\S"), timeout=60_000)
    press_stop(page)
    chat_idle(page)
    session_id, checkpoint = saved[0]
    print(f"\nA stopped chat reply followed at once by the next message was saved {took:.1f} s after it was sent")
    assert kv_usable(store, session_id, checkpoint), \
        f"the stopped reply was saved without its KV; the chat's status says {said!r}"


SAVED_WITHIN_S = 15
STOP_THEN_SEND_JS = """() => new Promise(resolve => {
  const shown = el => el && el.offsetParent !== null;
  const stop = [...document.querySelectorAll('#stop')].find(shown);
  if (!stop) { resolve(false); return; }  // the reply has already ended by itself
  stop.click();
  const tick = setInterval(() => {
    const send = document.querySelector('#Generate');
    if (shown(send)) { clearInterval(tick); send.click(); resolve(true); }
  }, 5);
})"""


def new_chat_with_one_reply(page, textgen: TextgenServer, question: str) -> tuple[Any, Any]:
    """A new chat in the Chat tab with one stopped reply, saved as usual (the chat now has its id): its input box
    and the store."""
    goto_loaded(page, textgen.url)
    open_tab(page, "Chat")
    box = page.locator("#chat-input textarea")
    box.wait_for(state="visible")
    expect(visible(page, ".sm-chat-bar")).to_be_visible()
    start_new_chat(page)
    store = textgen.store()
    ask(page, question)
    wait_for(lambda: chat_turns(store, 1), 60, "the first reply was not saved")
    return box, store


def ask(page, text: str) -> None:
    """Send a chat message and Stop its reply once it has begun."""
    earlier = page.locator("#chat .assistant-message").count()
    page.locator("#chat-input textarea").fill(text)
    page.locator("#Generate").click()
    expect(page.locator("#chat .assistant-message").nth(earlier)).to_contain_text(re.compile(r"\S"), timeout=60_000)
    press_stop(page)
    chat_idle(page)


def chat_idle(page) -> None:
    """The reply has ended: no Stop, Send is back."""
    expect(visible(page, "#stop")).to_have_count(0, timeout=60_000)
    expect(page.locator("#Generate")).to_be_visible()


def chat_turns(store, turns: int) -> list[tuple[str, object]]:
    """(session id, checkpoint) of the chat checkpoints holding this many turns."""
    return [(sid, cp) for sid, cp in checkpoints(store)
            if cp.history and len(cp.history.get("internal", [])) == turns]
