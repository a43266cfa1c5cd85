"""The history in the real textgen: Back and Forward in the Default view and in a chat (through textgen's
own saved prompt and chat files), across a restart, and the timeline clicked in the Sessions tab.

One textgen for the module, restarted once by the first test.
"""

from __future__ import annotations

import json
import re

from playwright.sync_api import Page, expect

from .textgen_page import (
    INPUT,
    NOTEBOOK,
    OUTPUT,
    checkpoints,
    choose_entry,
    dropdown_input,
    generate,
    goto_loaded,
    new_stop_checkpoint,
    open_tab,
    open_textgen,
    show_two_columns,
    start_new_chat,
    status,
    step,
    stop_after_growth,
    stop_checkpoints,
    visible,
    wait_for,
    wait_stable,
    wait_stable_text,
)
from .textgen_server import TextgenServer

TEXTGEN = {"settings": {"auto_max_new_tokens": False, "max_new_tokens": 12}}
VERSIONS = [f"Log {n}: the ferry left the harbour at dawn." for n in range(4)]


def save_versions(page: Page, textgen: TextgenServer, texts: list[str]) -> None:
    """Save each text as a checkpoint; the status line may still say so of the previous one: ask the store."""
    for text in texts:
        page.locator(INPUT).fill(text)
        visible(page, ".sm-save").click()
        wait_for(lambda t=text: any(c.input_text == t for _, c in checkpoints(textgen.store())), 30,
                 f"{text!r} was not saved")
        expect(status(page)).to_contain_text("Checkpoint saved", timeout=30_000)


def prompt_file_text(textgen: TextgenServer) -> str:
    folder = textgen.user_data / "logs" / "notebook"
    files = sorted(folder.glob("*.txt"), key=lambda path: path.stat().st_mtime)
    return files[-1].read_text(encoding="utf-8").rstrip() if files else ""


def test_back_and_forward_write_through_textgen_and_survive_a_restart(textgen: TextgenServer, context) -> None:
    page = context.new_page()
    open_textgen(page, textgen.url)
    save_versions(page, textgen, VERSIONS)
    step(page, ".sm-back", "Back to the manual checkpoint")
    step(page, ".sm-back", "Back to the manual checkpoint")
    expect(page.locator(INPUT)).to_have_value(VERSIONS[1])
    wait_for(lambda: prompt_file_text(textgen) == VERSIONS[1], 30,
             "textgen's own prompt file does not hold the state stepped back to")

    page.close()
    textgen.restart()
    page = context.new_page()
    open_textgen(page, textgen.url)
    assert wait_stable(page.locator(INPUT), quiet_s=1.5) == VERSIONS[1], "the restart lost the state stepped to"
    step(page, ".sm-back", "Back to the manual checkpoint")
    expect(page.locator(INPUT)).to_have_value(VERSIONS[0])
    for expected in VERSIONS[1:]:
        step(page, ".sm-forward", "Forward to")
        expect(page.locator(INPUT)).to_have_value(expected)
    step(page, ".sm-forward", "nothing to go forward to")
    session_id = textgen.store().list_sessions()[0].id
    store = textgen.store()
    assert [c.input_text for c in reversed(store.list_checkpoints(session_id))][-4:] == VERSIONS  # nothing added


def test_the_timeline_shows_the_session_and_a_click_selects_what_restore_restores(textgen: TextgenServer,
                                                                                   context) -> None:
    page = context.new_page()
    open_textgen(page, textgen.url)
    drafts = ["Harbour log: calm sea.", "Harbour log: a storm from the west."]
    save_versions(page, textgen, drafts)
    store = textgen.store()
    oldest = next(c for _, c in checkpoints(store) if c.input_text == drafts[0])
    open_tab(page, "Sessions")
    timeline = visible(page, ".sm-timeline")
    expect(timeline).to_contain_text(re.compile(r"\d+ checkpoints"), timeout=30_000)
    timeline.locator(f'[data-sm-pick="{oldest.id}"]').click()
    expect(dropdown_input(page, ".sm-manager-picker")).to_have_value(
        re.compile(re.escape(f"{oldest.created.astimezone():%H:%M:%S} · manual")), timeout=30_000)
    expect(timeline.locator(".sm-tl-row-selected")).to_have_attribute("data-sm-pick", oldest.id)
    visible(page, ".sm-manager-restore").click()
    expect(status(page)).to_contain_text("Restored", timeout=30_000)
    open_tab(page, "Notebook")
    expect(page.locator(INPUT)).to_have_value(drafts[0])


def test_back_in_a_textgen_chat_rewrites_its_history_file(textgen: TextgenServer, context) -> None:
    page = context.new_page()
    goto_loaded(page, textgen.url)
    box = page.locator("#chat-input textarea")
    box.wait_for(state="visible")
    expect(visible(page, ".sm-chat-bar")).to_be_visible()
    store = textgen.store()
    # Three replies: the first reply of a new chat is saved before textgen gives the chat its id.
    for n, message in enumerate(("Hello! Name a colour.", "Name a fruit.", "Name a tree.")):
        seen = len(stop_checkpoints(store))
        box.fill(message)
        page.locator("#Generate").click()
        expect(page.locator("#chat .user-message")).to_have_count(n + 1, timeout=60_000)
        new_stop_checkpoint(store, seen)
        expect(page.locator("#Generate")).to_be_visible(timeout=60_000)  # the reply has ended
    step(page, ".sm-back", "Back to the stop checkpoint")
    expect(page.locator("#chat .user-message")).to_have_count(2, timeout=30_000)

    chat_id = stop_checkpoints(store)[-1][1].chat.unique_id
    wait_for(lambda: chat_file_turns(textgen, chat_id) == 2, 30,
             "textgen's chat file still holds the turn stepped back from")
    step(page, ".sm-forward", "Forward to")
    expect(page.locator("#chat .user-message")).to_have_count(3, timeout=30_000)
    wait_for(lambda: chat_file_turns(textgen, chat_id) == 3, 30,
             "textgen's chat file did not get the turn stepped forward to")


def test_forward_after_a_rewind_in_a_textgen_chat_brings_back_the_turn_it_removed(textgen: TextgenServer,
                                                                                  context) -> None:
    page = context.new_page()
    goto_loaded(page, textgen.url)
    box = page.locator("#chat-input textarea")
    box.wait_for(state="visible")
    expect(visible(page, ".sm-chat-bar")).to_be_visible()
    start_new_chat(page)
    messages = page.locator("#chat .user-message")
    store = textgen.store()
    questions = ("Name a river.", "Name a hill.", "Name a bird.")
    for n, question in enumerate(questions):
        seen = len(stop_checkpoints(store))
        box.fill(question)
        page.locator("#Generate").click()
        expect(messages).to_have_count(n + 1, timeout=60_000)
        new_stop_checkpoint(store, seen)
        expect(page.locator("#Generate")).to_be_visible(timeout=60_000)  # the reply has ended
    chat_id = stop_checkpoints(store)[-1][1].chat.unique_id

    # Rewind one turn with the chat's timeline, then change one's mind: Forward brings the turn back.
    choose_entry(page, ".sm-chat-bar .sm-picker", "turn 2 ")
    visible(page, ".sm-chat-bar .sm-restore").click()
    expect(visible(page, ".sm-chat-bar .sm-status")).to_contain_text("Restored", timeout=20_000)
    expect(messages).to_have_count(2, timeout=30_000)
    wait_for(lambda: chat_file_turns(textgen, chat_id) == 2, 30, "textgen's chat file still holds the rewound turn")
    step(page, ".sm-forward", "Forward to the newest state")
    expect(messages).to_have_count(3, timeout=30_000)
    expect(messages.nth(2)).to_contain_text(questions[2])
    wait_for(lambda: chat_file_turns(textgen, chat_id) == 3, 30,
             "textgen's chat file did not get back the turn the rewind removed")
    step(page, ".sm-back", "Back to")
    expect(messages).to_have_count(2, timeout=30_000)
    step(page, ".sm-back", "Back to")
    expect(messages).to_have_count(1, timeout=30_000)


def generate_in_both_views(page: Page, store: object) -> str:
    """Generate + Stop in turn in the Default and the Notebook view of one prompt, ending in the Default view:
    the id of the prompt's session, which then holds states of both views."""
    for n, notebook in enumerate((False, True, False, True, False)):
        show_two_columns(page, not notebook)
        seen = len(stop_checkpoints(store))
        box = NOTEBOOK if notebook else INPUT
        generate(page, box, f"Entry {n} of the {'notebook' if notebook else 'log'}:")
        stop_after_growth(page, box if notebook else OUTPUT, chars=8)  # or it ends by itself: saved all the same
        session_id, _ = new_stop_checkpoint(store, seen)
    assert {cp.mode for sid, cp in checkpoints(store) if sid == session_id} >= {"default", "notebook"}
    return session_id


def chat_file_turns(textgen: TextgenServer, chat_id: str | None) -> int | None:
    """Turns in textgen's own file of a chat (logs/chat/<character>/ or logs/instruct/, by its mode)."""
    files = list((textgen.user_data / "logs").rglob(f"{chat_id}.json"))
    return len(json.loads(files[0].read_text(encoding="utf-8"))["internal"]) if len(files) == 1 else None


def test_back_and_forward_in_the_default_view_pass_over_the_notebook_states_of_its_prompt(
        textgen: TextgenServer, context) -> None:
    """Issue 20.1: Generate + Stop in turn in the Default and the Notebook view of one prompt, then Back and
    Forward in the Default view: every step changes the Default boxes, stepping writes no autosave, and
    Forward brings the text back."""
    page = context.new_page()
    open_textgen(page, textgen.url)
    store = textgen.store()
    session_id = generate_in_both_views(page, store)
    boxes = page.locator(INPUT), page.locator(OUTPUT)
    newest = tuple(wait_stable(box, quiet_s=1.0) for box in boxes)
    autosaves_before = store.autosave_ids(session_id)
    shown, said = [newest], []
    for _ in range(2):
        step(page, ".sm-back", "Back to")
        # textgen redraws its boxes as an answer of its own to the step: the user looks once they settle.
        now = tuple(wait_stable(box, quiet_s=1.5) for box in boxes)
        said.append(status(page).inner_text())
        assert now not in shown, f"Back left the Default boxes as they were: {now!r}; the steps said {said}"
        shown.append(now)
    for expected in reversed(shown[:-1]):
        step(page, ".sm-forward", "Forward to")
        said.append(status(page).inner_text())
        now = tuple(wait_stable(box, quiet_s=1.5) for box in boxes)
        assert now == expected, f"the boxes went {shown}, then {now}; the steps said {said}"
    assert store.autosave_ids(session_id) == autosaves_before, "stepping back and forward wrote autosaves"


def test_back_pressed_twice_quickly_goes_two_steps_back_and_forward_twice_quickly_comes_back(
        textgen: TextgenServer, context) -> None:
    """Issue 20.1: in a session holding both views' states, a second (and third) press of Back or Forward that
    comes before textgen has redrawn the boxes after the first is a step of its own."""
    page = context.new_page()
    open_textgen(page, textgen.url)
    store = textgen.store()
    session_id = generate_in_both_views(page, store)
    boxes = page.locator(INPUT), page.locator(OUTPUT)

    def settled() -> tuple[str, ...]:
        return tuple(wait_stable(box, quiet_s=1.5) for box in boxes)

    def place() -> re.Pattern[str]:
        """Where the last step went, as its status says once it stopped changing: "(4 of 31)". (A step's line
        can change twice, "… KV cache restored" coming a moment later: the next step's wait for a changed line
        may end on that, so a place is read only when the line has been quiet.)"""
        said = wait_stable_text(status(page), quiet_s=1.5)
        found = re.search(r"\(\d+ of \d+\)", said)
        assert found, f"the step's status names no place: {said!r}"
        return re.compile(re.escape(found.group(0)))

    newest = settled()
    back: list[tuple[tuple[str, ...], re.Pattern[str]]] = []
    for _ in range(3):  # one press at a time first: where two and three steps back land
        step(page, ".sm-back", "Back to")
        back.append((settled(), place()))
    for _ in range(3):
        step(page, ".sm-forward", "Forward to")
        settled()  # pressed slowly: each press once the last one's step has been drawn
    assert settled() == newest, "Forward pressed slowly did not come back"
    newest_place = place()
    autosaves_before = store.autosave_ids(session_id)

    for presses in (2, 3):
        visible(page, ".sm-back").click(click_count=presses)
        expect(status(page)).to_have_text(back[presses - 1][1], timeout=20_000)
        now = settled()
        assert now == back[presses - 1][0], \
            f"Back pressed {presses} times quickly showed {now!r}, not {back[presses - 1][0]!r}"
        visible(page, ".sm-forward").click(click_count=presses)
        expect(status(page)).to_have_text(newest_place, timeout=20_000)
        now = settled()
        assert now == newest, f"Forward pressed {presses} times quickly showed {now!r}, not the newest {newest!r}"
    assert store.autosave_ids(session_id) == autosaves_before, "stepping back and forward wrote autosaves"
