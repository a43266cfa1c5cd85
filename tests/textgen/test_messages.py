"""The quick bar's status line in the real textgen: what it says of a KV file deleted by hand, that Gradio's
progress timer never shows inside it, that it says what an action did as the action ends, and that a
generation's save on stop shows as soon as it is made, not at the page's next periodic refresh.

One textgen for the module, short generations.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from session_manager.ui.refresh import TICK_SECONDS

from .test_chat import open_chat, send
from .textgen_page import (
    INPUT,
    checkpoints,
    generate,
    kv_usable,
    label_of,
    new_stop_checkpoint,
    open_textgen,
    press_stop,
    restore,
    status,
    stays,
    stop_checkpoints,
    visible,
    wait_for,
    wait_until_idle,
)
from .textgen_server import TextgenServer

TEXTGEN = {"settings": {"auto_max_new_tokens": False, "max_new_tokens": 12}}
TIMER = re.compile(r"(?<![\w.])\d+(\.\d+)?(/\d+(\.\d+)?)?s\b")  # Gradio's progress: "0.0s", "3.7/2.0s"

# Every text the status line shows, as it changes (a click adds a marker): read back by the test.
RECORD_JS = """el => {
  window.smSeen = [el.innerText];
  new MutationObserver(() => {
    const text = el.innerText;
    if (text !== window.smSeen[window.smSeen.length - 1]) window.smSeen.push(text);
  }).observe(el, {subtree: true, childList: true, characterData: true, attributes: true});
}"""

# Before the page's own scripts: its periodic refresh (every TICK_SECONDS) comes once an hour instead, so
# whatever reaches the status line within a test came some other way. Counts the intervals it slowed.
SLOW_REFRESH_JS = f"""(() => {{
  const every = window.setInterval.bind(window);
  window.smSlowed = 0;
  window.setInterval = (fn, ms, ...rest) => {{
    if (ms === {TICK_SECONDS * 1000}) {{ window.smSlowed += 1; ms = 3600 * 1000; }}
    return every(fn, ms, ...rest);
  }};
}})();"""
SAVED_TO_SAID_S = 5  # from the stop checkpoint on disk to its words on the status line


def generate_and_stop(page: Page, textgen: TextgenServer, prompt: str) -> tuple[str, object]:
    store = textgen.store()
    seen = len(stop_checkpoints(store))
    generate(page, INPUT, prompt)
    press_stop(page)  # a short generation may already have ended by itself
    wait_until_idle(page)
    saved = new_stop_checkpoint(store, seen)
    expect(status(page)).to_contain_text("Saved on stop", timeout=20_000)  # what the user waits to see
    return saved


def test_a_kv_file_deleted_by_hand_is_reported_missing_not_blamed_on_the_disk_budget(textgen: TextgenServer,
                                                                                     context) -> None:
    page = context.new_page()
    open_textgen(page, textgen.url)
    store = textgen.store()
    session_id, checkpoint = generate_and_stop(page, textgen, "The keeper's log, first night:")
    assert kv_usable(store, session_id, checkpoint), "the stop kept no KV snapshot to delete"
    for _, other in stop_checkpoints(store):  # every snapshot of the session: none is left to fall back on
        if store.kv_path(session_id, other.id).exists():
            store.kv_path(session_id, other.id).unlink()
    page.locator(INPUT).fill("Something else typed since.")
    restore(page, label_of(checkpoint))
    line = status(page)
    expect(line).to_contain_text("KV snapshot file is missing", timeout=20_000)
    expect(line).not_to_contain_text("removed to stay within the disk budget")


def test_the_status_line_says_what_each_action_did_at_once_and_never_shows_a_progress_timer(
        textgen: TextgenServer, context) -> None:
    page = context.new_page()
    open_textgen(page, textgen.url)
    line = status(page)
    line.evaluate(RECORD_JS)
    generate_and_stop(page, textgen, "Harbour log, morning:")
    saving = ("Checkpoint saved", lambda: save(page, f"Harbour note {len(recorded(page))}."))
    back = ("Back to", lambda: visible(page, ".sm-back").click())
    forward = ("Forward to", lambda: visible(page, ".sm-forward").click())
    spoken = [action(page, act, words) for words, act in [saving, back, forward] * 2 + [saving]]
    # The last message stays through the next refreshes (every 3 s): none puts an older status back.
    stays(lambda: [t for t in recorded(page)[spoken[-1]:] if t != recorded(page)[spoken[-1]]], 7,
          "a refresh replaced what the last action said")
    seen = recorded(page)
    timers = [text for text in seen if TIMER.search(text)]
    assert not timers, f"Gradio's progress timer showed inside the status line: {timers}"
    for earlier, start, end in zip(spoken[:-1], spoken[1:], spoken[2:] + [len(seen)], strict=True):
        back_again = [text for text in seen[start:end] if text == seen[earlier] != seen[start]]
        assert not back_again, f"after {seen[start]!r} the status line went back to {seen[earlier]!r}: {seen}"


def save(page: Page, text: str) -> None:
    page.locator(INPUT).fill(text)
    visible(page, ".sm-save").click()


def action(page: Page, act: Callable[[], None], words: str) -> int:
    """Do act; the status line's very next text must already say ``words``. Returns where that text is recorded."""
    before = len(recorded(page))
    act()
    wait_for(lambda: len(recorded(page)) > before, 20, f"the status line did not change after an action ({words})")
    first = recorded(page)[before]
    assert words in first, f"the status line's first change after the action says {first!r}, not {words!r}"
    return before


def recorded(page: Page) -> list[str]:
    return page.evaluate("window.smSeen")


def test_a_stop_shows_as_saved_at_once_not_at_the_next_refresh_in_the_default_view(textgen: TextgenServer,
                                                                                  context) -> None:
    """Issue 20.7: the status line trailed the Stop by one refresh (~3 s). With the page's periodic refresh
    slowed to once an hour, "Saved on stop" must still show within seconds of the save."""
    page = slow_refresh_page(context)
    open_textgen(page, textgen.url)
    assert page.evaluate("window.smSlowed") >= 1, "the page's periodic refresh was not slowed: the test proves nothing"
    line = status(page)
    expect(line).not_to_contain_text("Saved on stop")
    seen = len(stop_checkpoints(textgen.store()))
    generate(page, INPUT, "Lighthouse log, the night of the gale:")
    press_stop(page)  # or it ended by itself: saved on stop all the same
    wait_until_idle(page)
    new_stop_checkpoint(textgen.store(), seen)
    expect(line).to_contain_text("Saved on stop", timeout=SAVED_TO_SAID_S * 1000)


def test_a_stopped_chat_reply_shows_as_saved_at_once_not_at_the_next_refresh(textgen: TextgenServer,
                                                                            context) -> None:
    page = slow_refresh_page(context)
    open_chat(page, textgen.url)
    assert page.evaluate("window.smSlowed") >= 1, "the page's periodic refresh was not slowed: the test proves nothing"
    line = status(page)
    expect(line).not_to_contain_text("Reply saved")
    store = textgen.store()
    seen = len(chat_checkpoints(store))
    send(page, "Tell me about the lighthouse keepers of the northern coast, in detail.", stop=True)
    wait_for(lambda: chat_checkpoints(textgen.store())[seen:], 30, "the stopped reply was not saved")
    expect(line).to_contain_text("Reply saved", timeout=SAVED_TO_SAID_S * 1000)


def slow_refresh_page(context) -> Page:
    page = context.new_page()
    page.add_init_script(SLOW_REFRESH_JS)
    return page


def chat_checkpoints(store: object) -> list:
    return [cp for _, cp in checkpoints(store) if cp.mode == "chat"]
