"""The panel and textgen's other doors in the real textgen: pinned settings, rename, Load model, two tabs,
the API and the Chat tab.

One textgen for the module, with the API on; autosave_interval is pinned in settings.yaml.
"""

from __future__ import annotations

import json
import re

from playwright.sync_api import Page, expect

from session_manager.models import Checkpoint, new_checkpoint_id, utcnow

from .textgen_page import (
    INPUT,
    autosaves,
    checkpoints,
    choose_entry,
    first_traceback,
    goto_loaded,
    label_of,
    open_tab,
    open_textgen,
    poll,
    saved_texts,
    status,
    status_text,
    stays,
    visible,
    wait_for,
)
from .textgen_server import (
    AUTOSAVE_PASSED_S,
    AUTOSAVE_S,
    AUTOSAVE_WAIT_S,
    MODEL_FILE,
    SECOND_MODEL_FILE,
    TextgenServer,
    http_json,
)

TEXTGEN = {"api": True, "settings": {"auto_max_new_tokens": False, "max_new_tokens": 24}}


def open_settings(page: Page) -> None:
    open_tab(page, "Sessions")
    page.get_by_role("button", name=re.compile(r"^Settings")).click()
    expect(visible(page, ".sm-interval")).to_be_visible()


def test_a_pinned_setting_shows_as_pinned_and_cannot_be_changed(textgen: TextgenServer, context) -> None:
    """Issue 7.8: settings.yaml pins autosave_interval; the panel says so from the start."""
    page = context.new_page()
    open_textgen(page, textgen.url)
    open_settings(page)
    interval = visible(page, ".sm-interval")
    expect(interval).to_contain_text(re.compile("pinned", re.I))
    expect(interval.locator("input[type=number]")).to_be_disabled()
    expect(interval.locator("input[type=range]")).to_be_disabled()


def test_a_pinned_value_never_reaches_the_users_settings_file(textgen: TextgenServer, context) -> None:
    """Issue 7.8: with autosave_interval pinned to 5, the user cannot change it, and changing another setting
    (which writes the user's own file) must not put the pinned 5 into that file."""
    page = context.new_page()
    open_textgen(page, textgen.url)
    open_settings(page)
    expect(visible(page, ".sm-interval").locator("input[type=number]")).to_be_disabled()
    budget = visible(page, ".sm-setting-kv_budget_mb").locator("input[type=number]")
    wanted = int(float(budget.input_value())) + 1
    budget.fill(str(wanted))
    budget.blur()
    user_file = textgen.store_root / "settings.json"

    def user_values() -> dict:
        return json.loads(user_file.read_text(encoding="utf-8")).get("values", {}) if user_file.exists() else {}

    wait_for(lambda: user_values().get("kv_budget_mb") == wanted, 20, f"the new KV budget reaches {user_file}")
    assert user_values().get("autosave_interval") != AUTOSAVE_S, f"{user_file} holds the pinned autosave_interval"


def test_a_long_rename_says_it_was_shortened(textgen: TextgenServer, context) -> None:
    """Issue 7.9: a 300-character name is cut to fit; the panel says so."""
    page = context.new_page()
    open_textgen(page, textgen.url)
    page.locator(INPUT).fill("Something worth a session, typed by hand.")
    visible(page, ".sm-save").click()
    expect(status(page)).to_contain_text("Checkpoint saved", timeout=30_000)
    open_tab(page, "Sessions")
    name = ("The long voyage of the northern lighthouse keeper " * 7)[:300]
    visible(page, ".sm-name").locator("textarea, input").first.fill(name)
    visible(page, ".sm-rename").click()
    expect(status(page)).to_contain_text("Renamed", timeout=30_000)
    stored = textgen.store().list_sessions()[0].meta.name
    assert len(stored) < len(name) and name.startswith(stored.rstrip(" …")[:100])
    expect(status(page)).to_contain_text(re.compile(r"shortened", re.I))


def test_a_click_on_a_row_of_the_sessions_table_selects_that_session(textgen: TextgenServer, context) -> None:
    """Issue 24.3: textgen's Sessions tab shows the store as a table; typing filters it, a click on a row
    selects that session (sessions made by another process, as the CLI or a second textgen would)."""
    store = textgen.store()
    for i in range(3):
        meta = store.create_session(f"Table walk {i}")
        store.add_checkpoint(meta.id, Checkpoint(id=new_checkpoint_id(), created=utcnow(),
                                                 input_text=f"A heron stood in the reeds, walk {i}."))
    page = context.new_page()
    open_textgen(page, textgen.url)
    open_tab(page, "Sessions")
    visible(page, ".sm-search").locator("textarea, input").first.fill("table walk")
    expect(visible(page, ".sm-table-line")).to_contain_text("3 sessions found", timeout=30_000)
    rows = page.locator(".sm-session-table tbody.tbody tr")
    expect(rows.first).to_contain_text("Table walk 2")  # the most recently changed first
    rows.nth(1).locator("td").nth(2).click()
    expect(status(page)).to_contain_text("Selected “Table walk 1”", timeout=30_000)
    expect(rows.nth(1)).to_contain_text("▶ Table walk 1")


def test_restore_with_load_model_says_which_model_is_loaded(textgen: TextgenServer, context) -> None:
    """Issue 7.10: after Restore with "Load model", textgen's Model tab says which model is loaded.

    Its model menu cannot be set from outside: a change of that menu makes textgen apply that model's saved
    settings over the ones the checkpoint was loaded with. The tab's own message says it plainly instead.

    The test ends with the model textgen started with: while another one is loaded, every page textgen
    opens runs its model menu's change events before its own load has filled the page, and on a busy
    machine that half-filled page becomes textgen's saved page state (the next page opens with empty
    text boxes and textgen logs ``KeyError: None``). That is textgen's, after any model switch.
    """
    page = context.new_page()
    open_textgen(page, textgen.url)
    try:
        load_in_model_tab(page, SECOND_MODEL_FILE)
        open_tab(page, "Notebook")
        page.locator(INPUT).fill("Written while the second model was loaded.")
        store = textgen.store()
        seen = len(checkpoints(store))
        visible(page, ".sm-save").click()
        _, saved = wait_for(lambda: checkpoints(store)[seen:], 15, "Save checkpoint wrote nothing")[0]
        assert saved.model.name == SECOND_MODEL_FILE
        load_in_model_tab(page, MODEL_FILE)

        open_tab(page, "Sessions")
        visible(page, ".sm-load-model").locator("input").check()
        choose_entry(page, ".sm-manager-picker", label_of(saved))
        visible(page, ".sm-manager-restore").click()
        expect(status(page)).to_contain_text("Restored", timeout=60_000)
        assert f'Loading "{SECOND_MODEL_FILE}"' in textgen.log_text().rsplit(f'Loading "{MODEL_FILE}"', 1)[-1]
        expect(status(page)).to_contain_text(f"Loaded the checkpoint's model {SECOND_MODEL_FILE}")
        expect(status(page)).to_contain_text("textgen's Model tab still lists the model chosen there")
        open_tab(page, "Model")
        expect(page.get_by_text(f"Loaded {SECOND_MODEL_FILE} from a Session Manager checkpoint")).to_be_visible()
    finally:
        load_again(page, MODEL_FILE)


def load_again(page: Page, name: str) -> None:
    """textgen's Model tab: load ``name``, whether or not its menu shows that model already."""
    open_tab(page, "Model")
    if page.get_by_label("Model", exact=True).input_value() != name:
        load_in_model_tab(page, name)
        return
    page.get_by_role("button", name="Load", exact=True).click()
    expect(page.get_by_text(re.compile(rf"Successfully loaded {re.escape(name)}"))).to_be_visible(timeout=60_000)


def load_in_model_tab(page: Page, name: str) -> None:
    """textgen's own Model tab: pick the model, press Load, wait for its message."""
    open_tab(page, "Model")
    menu = page.get_by_label("Model", exact=True)
    menu.click()
    page.get_by_role("option", name=name, exact=True).click()
    expect(menu).to_have_value(name)
    # textgen applies the model's settings first; a Load pressed before that loads with half-applied flags.
    expect(page.get_by_text(re.compile(r"Settings updated: Click .Load."))).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Load", exact=True).click()
    expect(page.get_by_text(re.compile(rf"Successfully loaded {re.escape(name)}"))).to_be_visible(timeout=60_000)


def test_two_tabs_keep_both_texts_and_claim_only_their_own_saves(textgen: TextgenServer, context) -> None:
    """Issue 7.4: text typed in tab A, then in tab B: both reach the disk; "Autosaved" only where true."""
    tabs = {}
    for name in ("A", "B"):
        page = context.new_page()
        open_textgen(page, textgen.url)
        tabs[name] = page
    texts = {"A": "Tab A: the first draft of a letter to the harbour master, typed in one tab.",
             "B": "Tab B: a shopping list for the lighthouse, typed in another tab."}
    for name, page in tabs.items():
        page.locator(INPUT).fill(texts[name])
    store = textgen.store()
    on_disk: list[str] = []

    def both_saved() -> bool:
        on_disk[:] = saved_texts(store)
        return all(text in on_disk for text in texts.values())

    poll(both_saved, AUTOSAVE_WAIT_S)  # what is missing is reported below, with what each tab claims
    # Let each tab's status catch up (the panel refreshes every 3 s).
    poll(lambda: all("Autosaved" in status_text(page) for page in tabs.values()), 8)
    lost = [name for name, text in texts.items() if text not in on_disk]
    claims = {name: status_text(page) for name, page in tabs.items()}
    false_claims = [name for name in tabs if "Autosaved" in claims[name] and texts[name] not in on_disk]
    assert not lost and not false_claims, (f"lost on disk: tab(s) {lost}; tab(s) {false_claims} say "
                                           f"Autosaved without their text on disk; statuses: {claims}")


def test_api_completions_make_no_checkpoint_and_leave_the_autosave(textgen: TextgenServer, context) -> None:
    page = context.new_page()
    open_textgen(page, textgen.url)
    typed = "A draft that the API must leave alone."
    page.locator(INPUT).fill(typed)
    store = textgen.store()
    wait_for(lambda: [a for _, a in autosaves(store) if a.input_text == typed], AUTOSAVE_WAIT_S,
             "the typed draft never reached the autosave")
    before = _store_files(textgen)
    api = f"http://127.0.0.1:{textgen.api_port}/v1"
    completion = http_json(f"{api}/completions", {"prompt": "The capital of France is", "max_tokens": 8})
    chat = http_json(f"{api}/chat/completions", {"messages": [{"role": "user", "content": "Say hello."}],
                                                 "max_tokens": 8})
    assert completion["choices"][0]["text"] and chat["choices"][0]["message"]["content"] is not None

    def changed() -> list[str]:
        after = _store_files(textgen)
        return sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))

    stays(changed, AUTOSAVE_PASSED_S, "API completions changed the store")


def _store_files(textgen: TextgenServer) -> dict[str, bytes]:
    """Every checkpoint and autosave file of the store, with its bytes."""
    root = textgen.store_root / "sessions"
    paths = list(root.glob("*/checkpoints/*.json")) + list(root.glob("*/autosave.json"))
    return {str(path.relative_to(root)): path.read_bytes() for path in paths}


def test_a_chat_message_gets_a_reply_and_no_session_manager_error(textgen: TextgenServer, context) -> None:
    page = context.new_page()
    goto_loaded(page, textgen.url)
    box = page.locator("#chat-input textarea")
    box.wait_for(state="visible")
    expect(visible(page, ".sm-chat-bar")).to_be_visible()  # the Chat tab is open, with its timeline
    logged = len(textgen.log_text())
    box.fill("Hello! Name one colour of the rainbow.")
    page.locator("#Generate").click()
    # The reply, as the store saved it (the page's markup differs between textgen's chat modes, and an
    # earlier test's model load may have switched the mode).
    question = "Hello! Name one colour of the rainbow."
    saved = wait_for(lambda: [c for _, c in checkpoints(textgen.store()) if c.history
                              and c.history["internal"] and c.history["internal"][-1][0] == question], 60,
                     "the chat's reply was never saved")
    expect(page.locator("#Generate")).to_be_visible(timeout=60_000)  # the reply has ended
    assert saved[-1].history["internal"][-1][1].strip(), "the reply is empty"
    log = textgen.log_text()[logged:]
    ours = [line.rstrip() for line in log.splitlines()
            if "Session Manager" in line and re.search(r"WARNING|ERROR|could not|failed", line)
            or "session_manager" in line and "File " in line]
    assert not ours, "Session Manager errors in textgen's log during a chat message:\n" + "\n".join(ours)


def test_the_page_leaves_no_traceback_in_textgens_log(textgen: TextgenServer) -> None:
    """Everything above ran without an exception in textgen (a page load must not break textgen's events)."""
    found = first_traceback(textgen.log_text())
    assert found is None, f"textgen logged an exception:\n{found}"
