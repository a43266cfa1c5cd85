"""The Session Manager panel in a real browser, against the real demo host (Gemma 3 270M)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from conftest import open_app, write_user_settings
from playwright.sync_api import Page, expect
from ui_helpers import (
    INPUT,
    NOTEBOOK,
    OUTPUT,
    choose,
    dropdown_input,
    dropdown_options,
    generate_and_stop,
    open_tab,
    read_dropdown,
    status,
    visible,
    wait_for,
    wait_stable,
)

from session_manager.models import Checkpoint, new_checkpoint_id, utcnow
from session_manager.store import SessionStore
from session_manager.ui.refresh import TICK_SECONDS

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("panel") / "data"
    # Labels here are asserted exactly ("· stop", "· manual"), so KV snapshots (which add "· KV n tok")
    # are off; test_kv_resume.py and test_shipped_settings.py run with the shipped settings.
    write_user_settings(data, kv_snapshots="never")
    return data


def test_stop_saves_a_checkpoint_the_quick_bar_shows(page: Page) -> None:
    prompt = "Once upon a time, in a small village by the sea,"
    page.locator(INPUT).fill(prompt)
    page.click("#generate-default")
    output = page.locator(OUTPUT)
    expect(output).to_have_value(re.compile(re.escape(prompt) + r".+", re.S), timeout=30_000)
    first = len(output.input_value())
    expect(output).to_have_value(re.compile(rf".{{{first + 1},}}", re.S), timeout=30_000)  # still generating
    page.click("#stop-default")
    # Saved on stop is written when the generation has ended: from then on the output must stay put.
    expect(status(page)).to_contain_text("Saved on stop", timeout=30_000)
    final = wait_stable(output)
    time.sleep(1.5)
    assert output.input_value() == final, "the output kept growing after Stop"
    assert final.startswith(prompt) and len(final) > len(prompt)
    picker = dropdown_input(page, ".sm-picker")
    expect(picker).to_have_value(re.compile(r"· stop"))
    options, selected = read_dropdown(page, ".sm-picker")
    assert selected == [picker.input_value()], (selected, picker.input_value())
    assert any(option.endswith("· stop") for option in options)


def test_refresh_brings_the_text_back(page: Page) -> None:
    prompt = "The lighthouse keeper climbed the stairs and"
    output = generate_and_stop(page, prompt)
    expect(status(page)).to_contain_text("Saved on stop")
    page.reload()
    open_app(page, page.url)
    expect(page.locator(INPUT)).to_have_value(prompt)
    expect(page.locator(OUTPUT)).to_have_value(output)


def test_restore_puts_the_old_text_back(page: Page) -> None:
    page.locator(INPUT).fill("Alpha: the first draft of the story.")
    visible(page, ".sm-save").click()
    expect(status(page)).to_contain_text("Checkpoint saved")
    expect(dropdown_input(page, ".sm-picker")).to_have_value(re.compile(r"· manual$"))
    first_label = dropdown_input(page, ".sm-picker").input_value()
    time.sleep(1.1)  # labels are to the second
    page.locator(INPUT).fill("Beta: the second draft.")
    visible(page, ".sm-save").click()
    expect(dropdown_input(page, ".sm-picker")).not_to_have_value(first_label)

    box = page.locator(INPUT)
    box.fill("")
    box.press_sequentially("Gamma, typed by hand")
    choose(page, ".sm-picker", first_label)
    visible(page, ".sm-restore").click()
    expect(box).to_have_value("Alpha: the first draft of the story.")
    expect(status(page)).to_contain_text("Restored")
    expect(dropdown_input(page, ".sm-picker")).to_have_value(first_label)


def test_a_pick_stays_put_while_newer_checkpoints_arrive(page: Page, data_dir: Path) -> None:
    """A background refresh neither narrows the open list nor moves the entry the user picked, even
    when that entry was the newest one and a newer checkpoint arrived meanwhile."""
    text = "Delta: the draft the user comes back to."
    page.locator(INPUT).fill(text)
    visible(page, ".sm-save").click()
    expect(status(page)).to_contain_text("Checkpoint saved")
    field = dropdown_input(page, ".sm-picker")
    expect(field).to_have_value(re.compile(r"· manual$"))
    picked = field.input_value()
    before = dropdown_options(page, ".sm-picker")
    store = SessionStore(data_dir)
    session = next(row.id for row in store.list_sessions()
                   if any(c.input_text == text for c in store.list_checkpoints(row.id)))

    field.blur()
    field.click()  # the list is open while another process adds a checkpoint to this session
    time.sleep(1.1)  # labels are to the second
    store.add_checkpoint(session, Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text="from elsewhere"))
    time.sleep(3 * TICK_SECONDS)  # refreshes would have come meanwhile
    options = page.locator("ul.options li")
    expect(options).to_have_count(len(before))
    options.filter(has_text=picked).click()
    expect(field).to_have_value(picked)

    # the list shows the new entry once closed
    wait_for(lambda: len(dropdown_options(page, ".sm-picker")) != len(before), 30,
             "the checkpoint added elsewhere never showed up", interval=0.5)
    expect(field).to_have_value(picked)


def test_rename_from_the_manager(page: Page, data_dir: Path) -> None:
    visible(page, ".sm-save").click()  # make sure a session exists
    expect(status(page)).to_contain_text("Session: ")
    open_tab(page, "Session Manager")
    name_box = visible(page, ".sm-name").locator("textarea, input").first
    name_box.fill("Lighthouse story")
    visible(page, ".sm-rename").click()
    expect(status(page)).to_contain_text("Renamed to “Lighthouse story”")
    expect(dropdown_input(page, ".sm-sessions")).to_have_value(re.compile(r"^Lighthouse story · "))
    open_tab(page, "Notebook")
    expect(status(page)).to_contain_text("Session: Lighthouse story ·")

    base = data_dir.parent
    before = {p for p in base.rglob("*")}
    passwd = Path("/etc/passwd").stat()
    hostile = "../../etc/passwd"
    open_tab(page, "Session Manager")
    name_box.fill(hostile)
    visible(page, ".sm-rename").click()
    expect(status(page)).to_contain_text(f"Renamed to “{hostile}”")
    expect(dropdown_input(page, ".sm-sessions")).to_have_value(re.compile("^" + re.escape(hostile) + " · "))
    open_tab(page, "Notebook")
    expect(status(page)).to_contain_text(f"Session: {hostile} ·")
    created = {p for p in base.rglob("*")} - before
    assert all(data_dir in p.parents for p in created), created
    assert not [p for p in base.rglob("*passwd*")]
    assert Path("/etc/passwd").stat().st_mtime == passwd.st_mtime


def test_delete_asks_first(page: Page) -> None:
    open_tab(page, "Session Manager")
    name_box = visible(page, ".sm-name").locator("textarea, input").first
    name_box.fill("Doomed session")
    visible(page, ".sm-new").click()
    expect(dropdown_input(page, ".sm-sessions")).to_have_value(re.compile(r"^Doomed session · "))
    label_box = visible(page, ".sm-label").locator("textarea, input").first
    for label in ("keep me", "drop me"):
        label_box.fill(label)
        visible(page, ".sm-manager-save").click()
        expect(dropdown_input(page, ".sm-manager-picker")).to_have_value(re.compile(f"“{label}”"))

    confirm_text = visible(page, ".sm-confirm-text")
    # A checkpoint: Cancel keeps it, Yes deletes it.
    visible(page, ".sm-delete-checkpoint").click()
    expect(confirm_text).to_contain_text("Delete the checkpoint of")
    visible(page, ".sm-cancel").click()
    expect(page.locator(".sm-confirm:visible")).to_have_count(0)
    assert any("“drop me”" in o for o in dropdown_options(page, ".sm-manager-picker"))
    visible(page, ".sm-delete-checkpoint").click()
    expect(confirm_text).to_contain_text("Delete the checkpoint of")
    visible(page, ".sm-confirm").click()
    expect(status(page)).to_contain_text("Checkpoint deleted")
    expect(page.locator(".sm-confirm:visible")).to_have_count(0)
    options = dropdown_options(page, ".sm-manager-picker")
    assert not any("“drop me”" in o for o in options), options
    assert any("“keep me”" in o for o in options), options

    # The session: same dance.
    visible(page, ".sm-delete").click()
    expect(confirm_text).to_contain_text("Delete the session Doomed session and its 1 checkpoint(s)?")
    visible(page, ".sm-cancel").click()
    expect(page.locator(".sm-confirm:visible")).to_have_count(0)
    assert any(o.startswith("Doomed session · ") for o in dropdown_options(page, ".sm-sessions"))
    visible(page, ".sm-delete").click()
    expect(confirm_text).to_contain_text("Delete the session Doomed session")
    visible(page, ".sm-confirm").click()
    expect(status(page)).to_contain_text("Deleted “Doomed session”")
    expect(dropdown_input(page, ".sm-sessions")).not_to_have_value(re.compile("^Doomed session"))
    assert not any(o.startswith("Doomed session") for o in dropdown_options(page, ".sm-sessions"))


def test_notebook_view_saves_from_its_quick_bar(page: Page) -> None:
    page.locator("#sm-two-columns input[type=checkbox]").uncheck()
    notebook = page.locator(NOTEBOOK)
    expect(notebook).to_be_visible()
    expect(page.locator(INPUT)).to_be_hidden()
    notebook.fill("A notebook page: the tide came in at dawn.")
    visible(page, ".sm-save").click()
    expect(status(page)).to_contain_text("Checkpoint saved")
    assert page.locator("#notebook-view .sm-status").first.is_visible()
    expect(dropdown_input(page, ".sm-picker")).to_have_value(re.compile(r"· manual$"))
    open_tab(page, "Session Manager")
    page.get_by_text("Checkpoint JSON").click()
    preview = visible(page, ".cm-content")
    expect(preview).to_contain_text('"mode": "notebook"')
    expect(preview).to_contain_text("the tide came in at dawn")
