"""The Sessions tab's table in a real browser against the demo host (issue 24, item 3): a person types in
the search box, turns pages, sorts, clicks a row, and that session is the one selected."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from ui_helpers import choose, dropdown_input, open_tab, status, visible

from session_manager.app.session_table import PAGE_SIZE
from session_manager.models import Checkpoint, ModelInfo, new_checkpoint_id, utcnow
from session_manager.store import SessionStore

pytestmark = pytest.mark.browser

COUNT = 2 * PAGE_SIZE + 10  # three pages
ROWS = ".sm-session-table tbody.tbody tr"
ANIMALS = ["otter", "badger", "heron", "lynx", "marten", "vole"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store the demo opens with three pages of sessions, made before it starts (names sort apart from
    their age: "Walk 000" is the oldest, "Zephyr" among the newest...)."""
    data = tmp_path_factory.mktemp("table") / "data"
    store = SessionStore(data)
    for i in range(COUNT):
        animal = ANIMALS[i % len(ANIMALS)]
        meta = store.create_session(f"Walk {i:03d} {animal}")
        for n in range(i % 3 + 1):
            store.add_checkpoint(meta.id, Checkpoint(id=new_checkpoint_id(), created=utcnow(),
                                                     input_text=f"We saw a {animal} by the river, take {n}.",
                                                     model=ModelInfo(name="tiny.gguf")))
    store.close()
    return data


def row(page: Page, index: int) -> Locator:
    """A row of the table as the page shows it (Gradio draws a second, hidden table to measure columns)."""
    return page.locator(ROWS).nth(index)


def rows(page: Page) -> list[str]:
    """The names in the table as the page shows them, top to bottom."""
    return [text.strip() for text in page.locator(f"{ROWS} td:first-child").all_inner_texts()]


def line(page: Page) -> object:
    return visible(page, ".sm-table-line")


def test_type_page_sort_and_click_a_row(page: Page) -> None:
    open_tab(page, "Session Manager")
    expect(line(page)).to_contain_text(f"Page 1 of 3 · {COUNT} sessions")
    first_page = rows(page)
    assert first_page[0].removeprefix("▶ ") == f"Walk {COUNT - 1:03d} {ANIMALS[(COUNT - 1) % 6]}"  # newest first

    visible(page, ".sm-table-forward").click()
    expect(line(page)).to_contain_text(f"Page 2 of 3 · {COUNT} sessions")
    expect(row(page, 0)).to_contain_text(
        f"Walk {COUNT - 1 - PAGE_SIZE:03d}")

    choose(page, ".sm-table-sort", "Name")
    visible(page, ".sm-table-order").get_by_text("Ascending").click()
    expect(line(page)).to_contain_text("Page 1 of 3")  # a new order starts at its first page
    expect(row(page, 0)).to_contain_text("Walk 000 otter")

    search = visible(page, ".sm-search").locator("textarea")
    search.press_sequentially("lyn", delay=80)  # as one types: each word's beginning already finds
    found = len(range(3, COUNT, len(ANIMALS)))
    expect(line(page)).to_contain_text(f"Page 1 of 1 · {found} sessions found")
    listed = rows(page)
    assert len(listed) == found and all("lynx" in name for name in listed)
    assert listed == sorted(listed)  # still by name, ascending

    target = listed[2]
    row(page, 2).locator("td").nth(3).click()
    expect(status(page)).to_contain_text(f"Selected “{target}”")
    expect(dropdown_input(page, ".sm-sessions")).to_have_value(re.compile("^" + re.escape(target) + " · "))
    expect(row(page, 2)).to_contain_text(f"▶ {target}")

    search.fill("")
    expect(line(page)).to_contain_text(f"Page 1 of 3 · {COUNT} sessions")
    visible(page, ".sm-table-page").locator("input").fill("3")
    visible(page, ".sm-table-page").locator("input").press("Enter")
    expect(line(page)).to_contain_text("Page 3 of 3")
    expect(row(page, 0)).to_contain_text(
        f"Walk {2 * PAGE_SIZE:03d}")
