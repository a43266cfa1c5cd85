"""What a user does in the real textgen page, and what the tests read back from its store.

textgen's element ids bite: ``#textbox-default`` is the Default view's OUTPUT; the input is
``.textbox_default textarea``. Both Stop buttons have id ``stop``; only one is visible at a time.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))
from ui_helpers import (  # noqa: E402
    close_list,
    dropdown_input,
    open_tab,
    poll,
    status,
    step,
    visible,
    wait_for,
    wait_stable,
    wait_stable_text,
)

from session_manager.ui.refresh import LOADED_SELECTOR  # noqa: E402

__all__ = ["dropdown_input", "open_tab", "poll", "status", "step", "visible", "wait_for", "wait_stable",
           "wait_stable_text"]

INPUT = ".textbox_default textarea"
OUTPUT = "#textbox-default textarea"
NOTEBOOK = "#textbox-notebook textarea"
STOP_LABEL = re.compile(r"· stop\b")


# ----- the page ---------------------------------------------------------------------------

def open_textgen(page: Page, url: str, box: str = INPUT) -> None:
    """Open textgen on its Notebook tab and wait until its load events have filled the text box.

    textgen always loads some text (its prompt file holds "In this story," at least), and both
    textgen's load event and the extension's write the box: typing before they settle is lost.
    """
    goto_loaded(page, url)
    open_tab(page, "Notebook")
    text_box = page.locator(box)
    text_box.wait_for(state="visible")
    expect(text_box).not_to_have_value("", timeout=20_000)
    expect(visible(page, ".sm-quick-bar")).to_be_visible()
    wait_stable(text_box, quiet_s=1.0)  # textgen's own load events write the box too


def goto_loaded(page: Page, url: str) -> None:
    """Open textgen and wait until the extension's load event has filled the page (it marks <body>)."""
    page.goto(url)
    page.locator(LOADED_SELECTOR).wait_for(state="attached")


def start_new_chat(page: Page) -> None:
    """Press textgen's New chat once the page has drawn the chat it opens with, and wait until the new chat is
    the one shown. textgen fills the chat a moment after the page loads (its saved settings pick the mode and
    character, which load the newest chat): on a busy machine a New chat pressed before that was undone by it,
    and the next message went into the old chat."""
    chat, messages = page.locator("#chat"), page.locator("#chat .user-message")
    wait_stable_text(chat, quiet_s=1.0, timeout_s=60)
    before = selected_chats(page)
    visible(page, "#new-chat-btn").click()
    expect(messages).to_have_count(0, timeout=20_000)
    wait_for(lambda: selected_chats(page) not in ([], before), 30, "textgen did not select the new chat")
    wait_stable_text(chat, quiet_s=1.0, timeout_s=60)
    expect(messages).to_have_count(0)


def selected_chats(page: Page) -> list[str]:
    """The ids selected in textgen's chat list, read at once ([] while none is: no wait for one)."""
    return page.locator("#past-chats input:checked").evaluate_all("els => els.map(e => e.value)")


def button(page: Page, name: str) -> Locator:
    """The visible button with exactly this text (Generate, Continue, Load ...)."""
    return page.get_by_role("button", name=name, exact=True).first


def generate(page: Page, box: str, prompt: str) -> None:
    """Type a prompt, press Generate, wait until new text streams in after it. A click that started nothing
    (no Stop button, no new text after 15 s: textgen's page ignored it, as it does while the last event's chain
    still runs on a busy machine) is clicked again once, as a person would."""
    page.locator(box).fill(prompt)
    shown = page.locator(OUTPUT if box == INPUT else box)
    grown = re.compile(re.escape(prompt) + r".+", re.S)
    button(page, "Generate").click()
    try:
        expect(shown).to_have_value(grown, timeout=15_000)
        return
    except AssertionError:
        if page.locator("#stop:visible").count() == 0 and not grown.match(shown.input_value()):
            button(page, "Generate").click()
    expect(shown).to_have_value(grown, timeout=30_000)


def wait_until_idle(page: Page, timeout_ms: int = 60_000) -> None:
    """The generation has ended: textgen shows Generate again instead of Stop."""
    expect(button(page, "Generate")).to_be_visible(timeout=timeout_ms)
    expect(visible(page, "#stop")).to_have_count(0, timeout=timeout_ms)


def stop(page: Page) -> None:
    visible(page, "#stop").click()
    wait_until_idle(page)


def press_stop(page: Page) -> bool:
    """Press the visible Stop; False when the generation had already ended by itself."""
    try:
        visible(page, "#stop").click(timeout=2_000)
    except PlaywrightTimeout:  # the button went away: nothing left to stop
        return False
    return True


def stop_after_growth(page: Page, box: str = OUTPUT, chars: int = 40, timeout: float = 60) -> bool:
    """Stop the running generation once its text has grown by some words; False if it ended by itself first."""
    start = len(page.locator(box).input_value())
    poll(lambda: len(page.locator(box).input_value()) >= start + chars or not visible(page, "#stop").count(),
         timeout, interval=0.05)
    stopped = press_stop(page)
    wait_until_idle(page)
    return stopped


def show_two_columns(page: Page, on: bool) -> None:
    """textgen's Session tab switch between the Default (two columns) and the Notebook view."""
    open_tab(page, "Session")
    checkbox = page.get_by_label("Show two columns in the Notebook tab")
    if checkbox.is_checked() != on:
        checkbox.click()
    open_tab(page, "Notebook")
    expect(page.locator(INPUT if on else NOTEBOOK)).to_be_visible()


def set_parameter(page: Page, name: str, value: int | float) -> None:
    """Type into the number box of a Parameters slider, as a user would."""
    open_tab(page, "Parameters")
    field = page.get_by_label(f"number input for {name}")
    field.fill(str(value))
    field.press("Tab")
    expect(field).to_have_value(str(value))
    open_tab(page, "Notebook")


def read_parameter(page: Page, name: str) -> str:
    open_tab(page, "Parameters")
    value = page.get_by_label(f"number input for {name}").input_value()
    open_tab(page, "Notebook")
    return value


def status_text(page: Page) -> str:
    return status(page).inner_text()


def status_about(page: Page, checkpoint: Any, timeout: float = 6) -> str:
    """The quick bar's words about this checkpoint's save (the panel refreshes every 3 s), for failure reports."""
    stamps = [(checkpoint.created + timedelta(seconds=s)).astimezone().strftime("%H:%M:%S") for s in (0, 1)]
    said = poll(lambda: next((t for t in [status_text(page)] if any(s in t for s in stamps)), ""), timeout)
    return said or f"(no status about it; the status says {status_text(page)!r})"


def picker_value(page: Page) -> str:
    return dropdown_input(page, ".sm-picker").input_value()


def label_of(checkpoint: Any) -> str:
    """Enough of a checkpoint's picker label to find it: its local time and what made it."""
    return f"{checkpoint.created.astimezone():%H:%M:%S} · {checkpoint.trigger}"


def choose_entry(page: Page, selector: str, text: str, timeout: float = 30) -> None:
    """Pick the one picker entry whose label contains text, once the panel lists it (it refreshes every 3 s)."""
    field = dropdown_input(page, selector)
    deadline = time.monotonic() + timeout
    while True:
        field.click()
        options = page.locator("ul.options li")
        try:
            options.first.wait_for(state="visible", timeout=15_000)
        except PlaywrightTimeout:  # no list at all: the picker has no entry yet (the refresh has not come)
            shown = []
        else:
            shown = options.all_inner_texts()
        option = options.filter(has_text=text)
        if shown and option.count() == 1:
            try:
                option.click(timeout=5_000)
            except PlaywrightTimeout:  # a refresh already on its way redrew the list and closed it: again
                shown = ["(the list closed before the click)"]
            else:
                expect(field).to_have_value(re.compile(re.escape(text)))
                return
        close_list(page, selector)
        assert time.monotonic() < deadline, \
            f"no single entry {text!r} in {selector}; it lists {shown}; the status says {status_text(page)!r}"
        time.sleep(1)


def restore(page: Page, label: str) -> None:
    """Quick bar: pick the checkpoint whose label contains ``label`` and press Restore."""
    choose_entry(page, ".sm-picker", label)
    visible(page, ".sm-restore").click()
    expect(status(page)).to_contain_text("Restored", timeout=30_000)


# ----- the store --------------------------------------------------------------------------

def stays(probe: Callable[[], Any], seconds: float, what: str, interval: float = 0.25) -> None:
    """Fail as soon as probe() gives something truthy within ``seconds``: ``what`` names the problem."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        assert not found, f"{what}: {found!r}"
        time.sleep(interval)


def checkpoints(store: Any) -> list[tuple[str, Any]]:
    """(session id, checkpoint) of every checkpoint in the store, oldest first."""
    found = [(row.meta.id, cp) for row in store.list_sessions() for cp in store.list_checkpoints(row.meta.id)]
    return sorted(found, key=lambda pair: pair[1].created)


def autosaves(store: Any) -> list[tuple[str, Any]]:
    found = [(row.meta.id, store.read_autosave(row.meta.id)) for row in store.list_sessions()]
    return [(session_id, autosave) for session_id, autosave in found if autosave is not None]


def saved_texts(store: Any) -> list[str]:
    """Every input and output text on disk: checkpoints, and every autosave of the history."""
    history = [a for row in store.list_sessions() for a in store.autosaves(row.id)]
    states = [cp for _, cp in checkpoints(store)] + [a for _, a in autosaves(store)] + history
    return [text for state in states for text in (state.input_text, state.output_text) if text]


def stop_checkpoints(store: Any) -> list[tuple[str, Any]]:
    return [(sid, cp) for sid, cp in checkpoints(store) if cp.trigger == "stop"]


def new_stop_checkpoint(store: Any, seen: int, timeout: float = 30,
                        what: str = "the generation ended but no stop checkpoint was written") -> tuple[str, Any]:
    """Wait for the stop checkpoint number seen+1 (the save waits until the engine is idle)."""
    found = wait_for(lambda: stop_checkpoints(store)[seen:], timeout, what)
    return found[0]


def first_traceback(log: str) -> str | None:
    """The first exception textgen logged, from "Traceback" to its error line."""
    lines = [line.rstrip() for line in log.splitlines()]
    start = next((i for i, line in enumerate(lines) if line.startswith("Traceback")), None)
    if start is None:
        return None
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"^[\w.]*(Error|Exception)\b", lines[i])),
               start + 30)
    return "\n".join(lines[start:end + 1])


def kv_usable(store: Any, session_id: str, checkpoint: Any) -> bool:
    """The checkpoint names a KV snapshot and its blob is on disk."""
    return checkpoint.kv is not None and store.kv_path(session_id, checkpoint.id).exists()
