"""Two people on one real textgen (--multi-user --gradio-auth), each logged in through Gradio's login form in a
browser context of their own, at the same time: each writes, generates, stops and restores, and neither sees
the other's work anywhere in the panel or in their store."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from factories import VIEWPORT
from playwright.sync_api import Page, expect
from ui_helpers import read_dropdown  # tests/browser, put on sys.path by conftest

from session_manager.store import SessionStore
from session_manager.store.users import user_root
from session_manager.ui.refresh import LOADED_SELECTOR

from .textgen_page import (
    INPUT,
    OUTPUT,
    button,
    generate,
    open_tab,
    open_textgen,
    press_stop,
    restore,
    saved_texts,
    status,
    stop_after_growth,
    stop_checkpoints,
    visible,
    wait_for,
    wait_until_idle,
)
from .textgen_server import TextgenServer

ODD_LOGIN = "../x"
LOGINS = {"alice": "pw1", "bob": "pw2", ODD_LOGIN: "pw3"}
TEXTGEN = {
    "args": ("--multi-user", "--gradio-auth", ",".join(f"{name}:{pw}" for name, pw in LOGINS.items())),
    "settings": {"auto_max_new_tokens": False, "max_new_tokens": 60},
}
ALICE_WORDS = "Alice's garden diary: the roses"
BOB_WORDS = "Bob's workshop notes: the lathe"


def log_in(context, url: str, login: str) -> Page:
    """Gradio's login form, as a person fills it; then the page as textgen shows it to that login."""
    page = context.new_page()
    page.goto(url)
    page.get_by_label("username").fill(login)
    page.get_by_label("password").fill(LOGINS[login])
    page.get_by_role("button", name="Login").click()  # Gradio then reloads the page as the app
    page.locator(LOADED_SELECTOR).wait_for(state="attached", timeout=60_000)
    return page


def store_of(textgen: TextgenServer, login: str) -> SessionStore:
    return SessionStore(user_root(textgen.store_root, login))


@pytest.fixture
def two(browser) -> Iterator[tuple[Page, Page]]:
    contexts = [browser.new_context(viewport=VIEWPORT) for _ in range(2)]
    for context in contexts:
        context.set_default_timeout(20_000)
    try:
        yield tuple(contexts)  # type: ignore[misc]
    finally:
        for context in contexts:
            context.close()


def test_two_users_generate_stop_and_restore_each_in_their_own_store(textgen: TextgenServer, two) -> None:
    alice, bob = log_in(two[0], textgen.url, "alice"), log_in(two[1], textgen.url, "bob")
    for page in (alice, bob):
        open_textgen(page, textgen.url)
    generate(alice, INPUT, ALICE_WORDS)
    stop_after_growth(alice)
    generate(bob, INPUT, BOB_WORDS)
    stop_after_growth(bob)
    alice_store, bob_store = store_of(textgen, "alice"), store_of(textgen, "bob")
    wait_for(lambda: stop_checkpoints(alice_store) and stop_checkpoints(bob_store), 60, "a stop checkpoint each")
    alice_texts, bob_texts = " ".join(saved_texts(alice_store)), " ".join(saved_texts(bob_store))
    assert ALICE_WORDS in alice_texts and BOB_WORDS not in alice_texts
    assert BOB_WORDS in bob_texts and ALICE_WORDS not in bob_texts
    assert not (textgen.store_root / "sessions").exists() or not list((textgen.store_root / "sessions").iterdir())
    # Each restores their own stop checkpoint: the page shows their own text again.
    for page, words in ((alice, ALICE_WORDS), (bob, BOB_WORDS)):
        page.locator(INPUT).fill("scribbles")
        restore(page, "stop")
        expect(page.locator(OUTPUT)).to_have_value(lambda_start(words), timeout=20_000)
    # Neither sees the other's sessions: the Sessions tab's list, its search, the quick bar's entries.
    for page, own, other in ((alice, "Alice", "Bob"), (bob, "Bob", "Alice")):
        open_tab(page, "Sessions")
        listed, _ = read_dropdown(page, ".sm-sessions")
        assert any(own in name for name in listed) and not any(other in name for name in listed), listed
        visible(page, ".sm-search textarea, .sm-search input").fill("the")  # words both users wrote
        listed, _ = read_dropdown(page, ".sm-sessions")
        assert not any(other in name for name in listed), listed
        open_tab(page, "Notebook")
        entries, _ = read_dropdown(page, ".sm-picker")
        assert entries and not any(other in entry for entry in entries), entries

def test_another_users_stop_is_said_on_the_stopped_users_status_line(textgen: TextgenServer, two) -> None:
    alice, bob = log_in(two[0], textgen.url, "alice"), log_in(two[1], textgen.url, "bob")
    for page in (alice, bob):
        open_textgen(page, textgen.url)
    seen = len(stop_checkpoints(store_of(textgen, "alice")))
    generate(alice, INPUT, "A long story about the sea, told slowly:")
    bob.locator(INPUT).fill("Bob waits his turn:")
    button(bob, "Generate").click()  # queued behind Alice's generation: Bob's page shows its Stop
    visible(bob, "#stop").click()  # textgen's Stop is one flag for everyone: it ends Alice's generation
    wait_until_idle(alice)
    wait_for(lambda: stop_checkpoints(store_of(textgen, "alice"))[seen:], 60, "Alice's generation was saved")
    expect(status(alice)).to_contain_text("Another user pressed Stop", timeout=20_000)
    press_stop(bob)  # Bob's own generation (it started after his first Stop): his own Stop is no news
    wait_until_idle(bob, 180_000)
    wait_for(lambda: stop_checkpoints(store_of(textgen, "bob")), 60, "Bob's generation was saved")
    expect(status(bob)).to_contain_text("Saved on stop", timeout=20_000)
    expect(status(bob)).not_to_contain_text("Another user pressed Stop")


def test_an_odd_login_name_gets_a_store_of_its_own(textgen: TextgenServer, context) -> None:
    page = log_in(context, textgen.url, ODD_LOGIN)
    open_textgen(page, textgen.url)
    generate(page, INPUT, "An odd name's note:")
    stop_after_growth(page, chars=5)
    store = store_of(textgen, ODD_LOGIN)
    wait_for(lambda: stop_checkpoints(store), 60, "the generation was saved in the odd login's store")
    assert store.root.parent == textgen.store_root / "users"
    assert not (textgen.store_root.parent / "x").exists() and not (textgen.store_root / "x").exists()


def lambda_start(words: str):
    import re

    return re.compile("^" + re.escape(words) + ".+", re.S)


SOAK_MINUTES = float(os.environ.get("SESSION_MANAGER_MULTI_USER_MINUTES", "0"))


@pytest.mark.skipif(not SOAK_MINUTES, reason="long: set SESSION_MANAGER_MULTI_USER_MINUTES to run it")
def test_two_users_generating_in_turn_lose_nothing_and_cross_nothing(textgen: TextgenServer, two) -> None:
    """Alice and Bob generate in turn (each Generate while the other's may still run) for the minutes asked:
    every generation is one stop checkpoint in its user's store, and no store holds the other's words."""
    pages = {"alice": log_in(two[0], textgen.url, "alice"), "bob": log_in(two[1], textgen.url, "bob")}
    for page in pages.values():
        open_textgen(page, textgen.url)
    stores = {login: store_of(textgen, login) for login in pages}
    before = {login: len(stop_checkpoints(store)) for login, store in stores.items()}
    sent = {login: 0 for login in pages}
    deadline = time.monotonic() + SOAK_MINUTES * 60
    turn = 0
    while time.monotonic() < deadline:
        login = ("alice", "bob")[turn % 2]
        page = pages[login]
        wait_until_idle(page, 180_000)
        sent[login] += 1
        page.locator(INPUT).fill(f"{login.title()} writes story {sent[login]}:")
        button(page, "Generate").click()
        turn += 1
    for login, page in pages.items():
        wait_until_idle(page, 180_000)
        wait_for(lambda login=login: len(stop_checkpoints(stores[login])) - before[login] >= sent[login], 120,
                 f"every generation of {login} was saved")
    for login, store in stores.items():
        other = "Bob" if login == "alice" else "Alice"
        texts = saved_texts(store)
        assert len(stop_checkpoints(store)) - before[login] == sent[login]
        assert not [text for text in texts if f"{other} writes" in text], f"{other}'s words in {login}'s store"
        for number in range(1, sent[login] + 1):
            assert any(f"{login.title()} writes story {number}:" in text for text in texts), (login, number)
    print(f"\n{sum(sent.values())} generations in {SOAK_MINUTES:g} min ({sent}); every one saved, none crossed")
