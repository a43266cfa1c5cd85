"""The history in a real browser, against the real demo host: Back/Forward in the Default, Notebook and
Chat views (and across a restart), the timeline and the branch tree clicked, notes and tags searched, the
diff, runs side by side and the stats. One demo for the module."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import open_app, write_user_settings
from demo_server import DemoServer
from playwright.sync_api import Locator, Page, expect
from ui_helpers import (
    INPUT,
    NOTEBOOK,
    choose,
    dropdown_input,
    expect_listed,
    open_tab,
    status,
    step,
    visible,
    wait_for,
)

from session_manager.store import SessionStore

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("history") / "data"
    write_user_settings(data, kv_snapshots="never", autosave_interval=900)
    return data


def fresh_session(page: Page, name: str) -> None:
    """A session of its own for the test (the demo starts every tab in the last session shown)."""
    open_tab(page, "Session Manager")
    visible(page, ".sm-name").locator("textarea, input").first.fill(name)
    visible(page, ".sm-new").click()
    expect(dropdown_input(page, ".sm-sessions")).to_have_value(re.compile("^" + re.escape(name) + " · "))
    open_tab(page, "Notebook")


@pytest.fixture
def save_versions(data_dir: Path) -> Callable[[Page, str, list[str]], None]:
    """Save each text as a checkpoint from the quick bar. The status line may still say "Checkpoint saved"
    of the previous one, so the store is asked."""

    def save(page: Page, box: str, texts: list[str]) -> None:
        for text in texts:
            saved = _saved_count(data_dir, text)
            page.locator(box).fill(text)
            visible(page, ".sm-save").click()
            wait_for(lambda text=text, saved=saved: _saved_count(data_dir, text) != saved, 30,
                     f"{text!r} was not saved")
            expect(status(page)).to_contain_text("Checkpoint saved")
            expect(dropdown_input(page, ".sm-picker")).to_have_value(re.compile(r"· manual$"))

    return save


def _saved_count(data_dir: Path, text: str) -> int:
    store = SessionStore(data_dir)
    return sum(c.input_text == text or c.output_text == text
               for row in store.list_sessions() for c in store.list_checkpoints(row.id))


def _replies_saved(data_dir: Path) -> int:
    store = SessionStore(data_dir)
    return sum(c.mode == "chat" and c.trigger == "stop" for row in store.list_sessions()
               for c in store.list_checkpoints(row.id))


def stays_put(element: Locator, quiet_s: float = 1.5, timeout_s: float = 20) -> None:
    deadline, last, since = time.monotonic() + timeout_s, element.inner_text(), time.monotonic()
    while time.monotonic() - since < quiet_s:
        assert time.monotonic() < deadline, "the chat kept changing"
        time.sleep(0.2)
        now = element.inner_text()
        if now != last:
            last, since = now, time.monotonic()


def test_back_and_forward_in_the_default_view_survive_a_restart(demo: DemoServer, context, save_versions) -> None:
    page = context.new_page()
    open_app(page, demo.url)
    fresh_session(page, "Undo story")
    versions = [f"Draft {n}: the keeper climbed the stairs." for n in range(4)]
    save_versions(page, INPUT, versions)
    page.locator(INPUT).fill("typed and never saved")
    step(page, ".sm-back", "Back to the manual checkpoint")  # the typing is autosaved first
    expect(page.locator(INPUT)).to_have_value(versions[3])
    step(page, ".sm-back", "(3 of 5)")
    step(page, ".sm-back", "(2 of 5)")
    expect(page.locator(INPUT)).to_have_value(versions[1])
    page.close()

    demo.stop()  # SIGTERM mid-undo: what is on disk is all there is
    demo.start()
    page = context.new_page()
    open_app(page, demo.url)
    expect(page.locator(INPUT)).to_have_value(versions[1])  # the restart shows what the page showed
    step(page, ".sm-back", "(1 of 5)")
    expect(page.locator(INPUT)).to_have_value(versions[0])
    for expected in (*versions[1:], "typed and never saved"):
        step(page, ".sm-forward", "Forward to")
        expect(page.locator(INPUT)).to_have_value(expected)
    step(page, ".sm-forward", "nothing to go forward to")


def test_back_in_the_notebook_view(page: Page, save_versions) -> None:
    fresh_session(page, "Notebook undo")
    page.locator("#sm-two-columns input[type=checkbox]").uncheck()
    expect(page.locator(NOTEBOOK)).to_be_visible()
    save_versions(page, NOTEBOOK, ["The tide came in.", "The tide came in at dawn."])
    step(page, ".sm-back", "Back to")
    expect(page.locator(NOTEBOOK)).to_have_value("The tide came in.")
    step(page, ".sm-forward", "Forward to the newest state")
    expect(page.locator(NOTEBOOK)).to_have_value("The tide came in at dawn.")
    page.locator("#sm-two-columns input[type=checkbox]").check()  # later tabs open in the Default view
    save_versions(page, INPUT, ["back in two columns"])


def test_back_in_the_chat_goes_back_a_reply(page: Page, data_dir: Path) -> None:
    open_tab(page, "Parameters")
    field = page.get_by_label("number input for max_new_tokens")
    field.fill("6")
    field.press("Tab")
    open_tab(page, "Chat")
    chat = page.locator("#sm-demo-chat")
    for n, message in enumerate(("Hello there", "Tell me about the sea")):
        saved = _replies_saved(data_dir)
        page.locator("#chat-input textarea").fill(message)
        page.click("#chat-send")
        # The status line may still say "Reply saved" of the previous reply: the store is asked.
        wait_for(lambda saved=saved: _replies_saved(data_dir) != saved, 30, f"the reply to {message!r} was not saved")
        expect(chat.locator(".message.user")).to_have_count(n + 1, timeout=30_000)
        stays_put(chat)  # the reply's last update reaches the page just after it was saved
    step(page, ".sm-back", "Back to the stop checkpoint")
    expect(chat.locator(".message.user")).to_have_count(1)
    step(page, ".sm-forward", "Forward to")
    expect(chat.locator(".message.user")).to_have_count(2)


def test_timeline_clicks_select_what_restore_restores(page: Page, save_versions) -> None:
    fresh_session(page, "Timeline clicks")
    save_versions(page, INPUT, ["first words", "second words", "third words"])
    open_tab(page, "Session Manager")
    timeline = visible(page, ".sm-timeline")
    expect(timeline.locator(".sm-tl-row")).to_have_count(3)
    timeline.locator(".sm-tl-row").last.click()  # the list is newest first
    expect(timeline.locator(".sm-tl-row-selected")).to_have_count(1)
    expect(timeline.locator(".sm-tl-row").last).to_have_class(re.compile("sm-tl-row-selected"))
    picked = dropdown_input(page, ".sm-manager-picker").input_value()
    visible(page, ".sm-manager-restore").click()
    expect(status(page)).to_contain_text("Restored")
    open_tab(page, "Notebook")
    expect(page.locator(INPUT)).to_have_value("first words")

    open_tab(page, "Session Manager")
    # The restore's autosave is the newest point once the timeline shows it (it may come after "Restored").
    expect(timeline.locator(".sm-tl-row")).to_have_count(4)
    overview = visible(page, ".sm-tl-overview")
    box = overview.bounding_box()
    assert box is not None
    overview.click(position={"x": box["width"] - 20, "y": box["height"] / 2})  # near the newest point
    expect(dropdown_input(page, ".sm-manager-picker")).not_to_have_value(picked)
    expect(timeline.locator(".sm-tl-row-selected")).to_contain_text("autosave")


def test_a_branch_shows_in_the_tree_and_a_click_opens_it(page: Page, save_versions) -> None:
    fresh_session(page, "Tree trunk")
    save_versions(page, INPUT, ["the trunk"])
    open_tab(page, "Session Manager")
    visible(page, ".sm-name").locator("textarea, input").first.fill("Tree branch")
    visible(page, ".sm-branch").click()
    expect(status(page)).to_contain_text("Branched into “Tree branch”")
    tree = visible(page, ".sm-tree")
    expect(tree).to_contain_text("Tree branch · 1 checkpoints")
    tree.locator(".sm-tree-node", has_text="Tree trunk").click()
    expect(dropdown_input(page, ".sm-sessions")).to_have_value(re.compile("^Tree trunk · "))
    expect(visible(page, ".sm-timeline")).to_contain_text("Tree branch")  # its branch point


def test_notes_and_tags_are_saved_and_searchable(page: Page, save_versions) -> None:
    fresh_session(page, "Noted session")
    save_versions(page, INPUT, ["a plain draft"])
    open_tab(page, "Session Manager")
    row = visible(page, ".sm-tl-row")
    when = row.locator(".sm-tl-time").inner_text()
    row.click()
    expect(visible(page, ".sm-mark-title")).to_contain_text(when)  # the fields now show its note
    visible(page, ".sm-mark-note").locator("textarea").fill("the cormorant chapter")
    visible(page, ".sm-mark-pinned").locator("input").check()
    visible(page, ".sm-mark-save").click()
    expect(status(page)).to_contain_text("Pinned")
    expect(visible(page, ".sm-timeline")).to_contain_text("the cormorant chapter")
    visible(page, ".sm-session-tags").locator("textarea").fill("birds, drafts")
    visible(page, ".sm-session-save").click()
    expect(status(page)).to_contain_text("Saved the session's notes (birds, drafts)")

    open_tab(page, "Notebook")
    fresh_session(page, "Another session")
    open_tab(page, "Session Manager")
    visible(page, ".sm-search").locator("textarea").fill("cormorant")
    expect_listed(page, ".sm-sessions", "Noted session")
    visible(page, ".sm-search").locator("textarea").fill("tag:birds")
    expect_listed(page, ".sm-sessions", "Noted session")


def test_diff_runs_and_stats(page: Page, save_versions) -> None:
    fresh_session(page, "Other run")
    save_versions(page, INPUT, ["The sea was calm and blue."])
    fresh_session(page, "Diff session")
    save_versions(page, INPUT, ["The sea was calm and grey."])
    page.locator(INPUT).fill("The sea was wild and grey.")
    open_tab(page, "Session Manager")
    page.get_by_text("Compare two states (diff)").click()
    choose(page, ".sm-diff-from", "manual")
    visible(page, ".sm-diff-show").click()
    diff = visible(page, ".sm-diff-out")
    expect(diff.locator("del")).to_have_text(["calm"])
    expect(diff.locator("ins")).to_have_text(["wild"])
    expect(status(page)).to_contain_text("Compared: 1 words added, 1 removed.")
    # Choosing the other layout redraws the comparison shown, without pressing Show again.
    visible(page, ".sm-diff-layout").get_by_text("side by side").click()
    expect(diff.locator("table.sm-diff-sides")).to_be_visible()
    visible(page, ".sm-diff-layout").get_by_text("inline").click()
    expect(diff.locator("table.sm-diff-sides")).to_have_count(0)
    expect(diff.locator("del")).to_have_text(["calm"])

    page.get_by_text("Compare runs (checkpoints of any sessions").click()
    for session in ("Diff session", "Other run"):
        choose(page, ".sm-run-session", session)
        choose(page, ".sm-run-choice", "manual")
        visible(page, ".sm-run-add").click()
        expect(status(page)).to_contain_text("Added to the comparison")
    table = visible(page, ".sm-cmp-table")
    expect(table.locator("tr").first.locator("th")).to_contain_text(["", "Diff session", "Other run"])
    expect(table).to_contain_text("grey.")
    expect(table).to_contain_text("blue.")

    page.get_by_text("Stats", exact=True).click()
    visible(page, ".sm-stats-count").click()
    stats = visible(page, ".sm-stats-out")
    expect(stats).to_contain_text("All sessions", timeout=30_000)
    expect(stats).to_contain_text("Checkpoints")
    expect(stats.locator("svg.sm-chart")).to_have_count(2)
