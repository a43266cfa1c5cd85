"""What a user does on the page: find the visible quick bar, open a Gradio dropdown, wait for text."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TypeVar

from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

INPUT = "#textbox-default textarea"
OUTPUT = "#output-textbox textarea"
NOTEBOOK = "#textbox-notebook textarea"
_T = TypeVar("_T")


def visible(page: Page, selector: str) -> Locator:
    """The one instance of a panel element that the user can see (a quick bar lives under each view)."""
    return page.locator(f"{selector}:visible").first


def status(page: Page) -> Locator:
    return visible(page, ".sm-status")


def step(page: Page, button: str, said: str, timeout_ms: int = 20_000) -> None:
    """Click Back or Forward and wait for this click's own message: the status line changes and says ``said``.

    Two steps in a row may say alike ("Back to the manual checkpoint ..."): waiting for the words alone
    would pass on the previous step's message while this one is still on its way. And a step's message can
    change twice (its "KV cache restored" part a moment later): the line is read once it has been quiet, so
    that the change waited for is this click's, not the end of the step before.
    """
    line = status(page)
    before = wait_stable_text(line, quiet_s=0.75)
    visible(page, button).click()
    expect(line).not_to_have_text(before, timeout=timeout_ms)
    expect(line).to_contain_text(said, timeout=timeout_ms)


def dropdown_input(page: Page, selector: str) -> Locator:
    return visible(page, selector).locator("input")


def read_dropdown(page: Page, selector: str) -> tuple[list[str], list[str]]:
    """Open a Gradio 4 dropdown: (all option labels, the labels marked selected), the ✓ stripped."""
    field = dropdown_input(page, selector)
    field.click()
    options = page.locator("ul.options li")
    options.first.wait_for(state="visible", timeout=15_000)
    texts = [_option_text(text) for text in options.all_inner_texts()]
    selected = [_option_text(t) for t in page.locator('ul.options li[aria-selected="true"]').all_inner_texts()]
    _close_options(page, selector)
    return texts, selected


def _close_options(page: Page, selector: str, attempts: int = 3) -> None:
    """Close the open list: new choices arriving while the field has focus open it again (a delete's
    refresh), so the field loses focus too, and a user who still sees the list closes it once more."""
    for attempt in range(attempts):
        close_list(page, selector)
        try:
            page.locator("ul.options").wait_for(state="detached", timeout=5_000)
            return
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise


def dropdown_options(page: Page, selector: str) -> list[str]:
    return read_dropdown(page, selector)[0]


def choose(page: Page, selector: str, text: str) -> None:
    """Pick the option whose label contains text, the way a user does: click the field, click the option."""
    option = page.locator("ul.options li").filter(has_text=text)

    def pick() -> None:
        expect(option).to_have_count(1, timeout=10_000)
        option.click(timeout=5_000)

    with_list_open(page, selector, pick)
    expect(dropdown_input(page, selector)).to_have_value(re.compile(re.escape(text)))


def expect_listed(page: Page, selector: str, text: str) -> None:
    """Open the dropdown and see exactly one option containing text, then close it again."""
    option = page.locator("ul.options li").filter(has_text=text)
    with_list_open(page, selector, lambda: expect(option).to_have_count(1, timeout=10_000))
    close_list(page, selector)


def with_list_open(page: Page, selector: str, act: Callable[[], None], attempts: int = 3) -> None:
    """Open the dropdown's list and ``act`` on it.

    An update already on its way when the list opened (a refresh, a search's results, the events of
    text just typed) redraws the dropdown and can close the list under the pointer; a user opens it
    again, and so do we.
    """
    for attempt in range(attempts):
        dropdown_input(page, selector).click()
        try:
            act()
            return
        except (AssertionError, PlaywrightTimeout):
            if attempt == attempts - 1:
                raise
            close_list(page, selector)


def close_list(page: Page, selector: str) -> None:
    page.keyboard.press("Escape")
    dropdown_input(page, selector).blur()  # a click on a still focused Gradio dropdown would filter by its text


def _option_text(text: str) -> str:
    return text.replace("✓", "").strip()


def open_tab(page: Page, name: str) -> None:
    """The tab with exactly this name (textgen has a "Session" tab and the extension a "Sessions" tab)."""
    page.get_by_role("tab", name=name, exact=True).click()


def poll(probe: Callable[[], _T], timeout: float, interval: float = 0.25) -> _T:
    """probe()'s first truthy value within timeout, else its last value."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = probe()
    return value


def wait_for(probe: Callable[[], _T], timeout: float, what: str, interval: float = 0.25) -> _T:
    """Poll until probe() gives something truthy; fail with ``what`` and the last value."""
    value = poll(probe, timeout, interval)
    assert value, f"{what} (waited {timeout:.0f} s; last seen: {value!r})"
    return value


def wait_stable(locator: Locator, quiet_s: float = 2.0, timeout_s: float = 20) -> str:
    """The textarea's value once it stopped changing for quiet_s seconds."""
    return _stable(locator.input_value, quiet_s, timeout_s)


def wait_stable_text(locator: Locator, quiet_s: float = 2.0, timeout_s: float = 20) -> str:
    """An element's text once it stopped changing for quiet_s seconds."""
    return _stable(locator.inner_text, quiet_s, timeout_s)


def _stable(read: Callable[[], str], quiet_s: float, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    last = read()
    since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = read()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return now
    raise AssertionError(f"the text kept changing for {timeout_s} s")


def generate_and_stop(page: Page, prompt: str, run_s: float = 1.0) -> str:
    """Type a prompt, Generate, Stop after run_s seconds; the final output text."""
    page.locator(INPUT).fill(prompt)
    page.click("#generate-default")
    output = page.locator(OUTPUT)
    expect(output).to_have_value(re.compile(re.escape(prompt) + r".+", re.S), timeout=15_000)
    time.sleep(run_s)
    page.click("#stop-default")
    return wait_stable(output)
