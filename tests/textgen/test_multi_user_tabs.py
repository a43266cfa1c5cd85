"""A real textgen shared without logins (--multi-user alone): each browser tab records into a store of its
own, in memory; nothing reaches textgen's user_data; the panel says why; a closed tab's store is removed."""

from __future__ import annotations

from pathlib import Path

from factories import VIEWPORT
from playwright.sync_api import expect

from session_manager.hosts.textgen.multiuser import MEMORY_FOLDERS, TAB_ONLY

from .textgen_page import INPUT, open_textgen, status, visible, wait_for
from .textgen_server import TextgenServer

TEXTGEN = {"args": ("--multi-user",), "settings": {"auto_max_new_tokens": False, "max_new_tokens": 16}}
WORDS = {"first": "The first visitor's draft: a map of the old harbour.",
         "second": "The second visitor's draft: a recipe for plum cake."}


def tab_stores() -> set[Path]:
    """The stores of the open tabs, in the memory folder (each holds its sessions/ once something is saved)."""
    memory = next((folder for folder in MEMORY_FOLDERS if folder.is_dir()), None)
    if memory is None:
        return set()
    return {store for root in memory.glob("session-manager-tabs-*") for store in (root / "users").glob("*")}


def stored_texts(store: Path) -> list[str]:
    return [path.read_text() for path in store.glob("sessions/*/checkpoints/*.json")]


def test_each_tab_keeps_its_own_sessions_in_memory_only(textgen: TextgenServer, browser) -> None:
    before = tab_stores()
    contexts = {who: browser.new_context(viewport=VIEWPORT) for who in WORDS}
    try:
        pages = {}
        for who, context in contexts.items():
            context.set_default_timeout(20_000)
            page = pages[who] = context.new_page()
            open_textgen(page, textgen.url)
            expect(status(page)).to_contain_text(TAB_ONLY[:60])
            page.locator(INPUT).fill(WORDS[who])
            visible(page, ".sm-save").click()
            expect(status(page)).to_contain_text("saved", ignore_case=True, timeout=30_000)
        stores = wait_for(lambda: {s: stored_texts(s) for s in tab_stores() - before
                                   if stored_texts(s)} or None, 30, "no tab's store holds its checkpoint")
        assert len(stores) == 2, f"two tabs, two stores: {list(stores)}"
        for who, words in WORDS.items():
            holding = [s for s, texts in stores.items() if any(words in text for text in texts)]
            assert len(holding) == 1, f"the {who} tab's words are in {len(holding)} stores"
            other = next(w for w in WORDS if w != who)
            assert not any(WORDS[other] in text for text in stores[holding[0]])
        assert not list(textgen.store_root.glob("**/checkpoints/*.json")), "a tab's work reached user_data"
        first_store = next(s for s, texts in stores.items() if any(WORDS["first"] in t for t in texts))
        contexts.pop("first").close()  # the visitor closes the tab: its sessions go with it
        wait_for(lambda: not first_store.exists(), 60, "a closed tab's store stayed in memory")
        assert any(WORDS["second"] in t for s in tab_stores() for t in stored_texts(s))
    finally:
        for context in contexts.values():
            context.close()
