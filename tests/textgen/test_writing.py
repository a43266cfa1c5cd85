"""Writing in the real textgen: the first visit, typing, Save checkpoint, Stop, the picker, the Notebook view.

One textgen for the module, Default view, short generations (24 new tokens, ending by themselves).
"""

from __future__ import annotations

from playwright.sync_api import expect

from session_manager.timefmt import full

from .textgen_page import (
    INPUT,
    NOTEBOOK,
    OUTPUT,
    STOP_LABEL,
    autosaves,
    checkpoints,
    choose_entry,
    dropdown_input,
    first_traceback,
    generate,
    new_stop_checkpoint,
    open_tab,
    open_textgen,
    read_parameter,
    restore,
    set_parameter,
    show_two_columns,
    status,
    status_text,
    stays,
    stop_checkpoints,
    visible,
    wait_for,
    wait_stable,
    wait_until_idle,
)
from .textgen_server import AUTOSAVE_PASSED_S, AUTOSAVE_WAIT_S, TextgenServer

TEXTGEN = {"settings": {"auto_max_new_tokens": False, "max_new_tokens": 24}}


def test_opening_the_page_creates_no_session(textgen: TextgenServer, context) -> None:
    """Issue 7.5: textgen fills the page with its own leftover prompt; that is not the user's work."""
    page = context.new_page()
    open_textgen(page, textgen.url)
    shown = page.locator(INPUT).input_value()
    stays(lambda: [row.meta.name for row in textgen.store().list_sessions()], AUTOSAVE_PASSED_S,
          f"merely opening the page (textgen showed its prompt {shown!r}) created a session")
    expect(status(page)).not_to_contain_text("Autosaved")


def test_typed_text_reaches_the_autosave(textgen: TextgenServer, context) -> None:
    page = context.new_page()
    open_textgen(page, textgen.url)
    typed = "A letter typed by hand, word by word, without generating anything."
    page.locator(INPUT).fill(typed)
    wait_for(lambda: [a for _, a in autosaves(textgen.store()) if a.input_text == typed], AUTOSAVE_WAIT_S,
             "the typed text never reached an autosave")
    expect(status(page)).to_contain_text("Autosaved at", timeout=30_000)


def test_saving_typed_text_shows_no_kv_warning(textgen: TextgenServer, context) -> None:
    """Issue 7.9: a Save checkpoint of typed text is ordinary; the engine's cache holding other text is no news."""
    page = context.new_page()
    open_textgen(page, textgen.url)
    store = textgen.store()
    seen = len(stop_checkpoints(store))
    generate(page, INPUT, "The lighthouse keeper wrote in his log:")  # the engine's cache now holds this text
    wait_until_idle(page)
    new_stop_checkpoint(store, seen)
    page.locator(OUTPUT).fill("")
    page.locator(INPUT).fill("A shopping list typed by hand: bread, milk, apples and lamp oil.")
    visible(page, ".sm-save").click()
    expect(status(page)).to_contain_text("Checkpoint saved", timeout=30_000)
    shown = status_text(page)
    assert "tokens agree" not in shown and "no KV snapshot" not in shown, f"a KV warning for typed text: {shown!r}"


def test_no_autosave_duplicates_a_stop_checkpoint(textgen: TextgenServer, context) -> None:
    """Issue 7.7: after a generation ends, the stop checkpoint is the saved state and the picker shows it."""
    page = context.new_page()
    open_textgen(page, textgen.url)
    store = textgen.store()
    seen = len(stop_checkpoints(store))
    generate(page, INPUT, "Three things the sea gave back that winter:")
    wait_until_idle(page)
    session_id, stopped = new_stop_checkpoint(store, seen)
    picker = dropdown_input(page, ".sm-picker")
    expect(picker).to_have_value(STOP_LABEL, timeout=30_000)

    def duplicate() -> str | None:
        autosave = store.read_autosave(session_id)
        if autosave is not None and autosave.created > stopped.created and \
                (autosave.input_text, autosave.output_text) == (stopped.input_text, stopped.output_text):
            return f"autosave of {autosave.created:%H:%M:%S.%f}, stop checkpoint of {stopped.created:%H:%M:%S.%f}"
        return None

    stays(duplicate, AUTOSAVE_PASSED_S, "an autosave after the generation duplicates its stop checkpoint")
    expect(picker).to_have_value(STOP_LABEL)


def test_the_pickers_autosave_entry_restores_the_autosave(textgen: TextgenServer, context) -> None:
    """Issue 7.11: what a picker entry says is what Restore restores, even with a newer stop checkpoint."""
    page = context.new_page()
    open_textgen(page, textgen.url)
    store = textgen.store()
    typed = "Notes typed before asking the model: tide at six, wind from the west, two boats out."
    page.locator(INPUT).fill(typed)
    session_id, _ = wait_for(lambda: next(((sid, a) for sid, a in autosaves(store) if a.input_text == typed), None),
                             AUTOSAVE_WAIT_S, "the typed notes never reached the autosave")
    seen = len(stop_checkpoints(store))
    generate(page, INPUT, "The harbour master counted the boats:")
    wait_until_idle(page)
    _, stopped = new_stop_checkpoint(store, seen)
    autosave = store.read_autosave(session_id)
    assert autosave is not None
    assert (autosave.input_text, autosave.output_text) != (stopped.input_text, stopped.output_text), \
        "the autosave repeats the newer stop checkpoint (issue 7.7), so its picker entry cannot be told apart"
    # The picker names one autosave by its time, and lists a newer one only at its next refresh (every 3 s):
    # pick the entry of the autosave read above, once listed, as a user reading the times would.
    restore(page, f"{autosave.created.astimezone():%H:%M:%S} · autosave")
    expect(status(page)).to_contain_text(f"autosave of {full(autosave.created)}")
    expect(page.locator(INPUT)).to_have_value(autosave.input_text)
    expect(page.locator(OUTPUT)).to_have_value(autosave.output_text)


def test_the_autosave_entry_picked_is_the_one_restored_after_more_typing(textgen: TextgenServer, context) -> None:
    """Issue 20.2: pick an autosave entry, type on (a newer autosave is written), press Restore: the picked one
    comes back, not the newest."""
    page = context.new_page()
    open_textgen(page, textgen.url)
    store = textgen.store()
    first = "Draft one: the ferry leaves at noon and nobody on the quay knows why."
    page.locator(INPUT).fill(first)
    session_id, picked = wait_for(lambda: next(((sid, a) for sid, a in autosaves(store) if a.input_text == first),
                                                None), AUTOSAVE_WAIT_S, "the first draft never reached the autosave")
    expect(status(page)).to_contain_text("Autosaved", timeout=30_000)  # the panel lists it now
    choose_entry(page, ".sm-picker", f"{picked.created.astimezone():%H:%M:%S} · autosave")
    second = "Draft two, typed after the pick: the ferry is late again."
    page.locator(INPUT).fill(second)
    wait_for(lambda: store.read_autosave(session_id).input_text == second, AUTOSAVE_WAIT_S,
             "the second draft never reached the autosave")
    visible(page, ".sm-restore").click()
    expect(status(page)).to_contain_text(f"autosave of {full(picked.created)}", timeout=30_000)
    expect(page.locator(INPUT)).to_have_value(first)


def test_restoring_an_older_checkpoint_brings_back_its_parameters(textgen: TextgenServer, context) -> None:
    page = context.new_page()
    open_textgen(page, textgen.url)
    store = textgen.store()
    for top_k in (40, 50):
        set_parameter(page, "top_k", top_k)
        page.locator(INPUT).fill(f"A version written with top_k {top_k}.")
        seen = len(checkpoints(store))
        open_tab(page, "Sessions")  # the manager's Save takes a label, which the picker shows
        visible(page, ".sm-label").locator("textarea, input").first.fill(f"with top_k {top_k}")
        visible(page, ".sm-manager-save").click()
        _, saved = wait_for(lambda seen=seen: checkpoints(store)[seen:], 15, "Save checkpoint wrote nothing")[0]
        assert saved.params.get("top_k") == top_k
        open_tab(page, "Notebook")
    restore(page, "with top_k 40")
    expect(page.locator(INPUT)).to_have_value("A version written with top_k 40.")
    assert read_parameter(page, "top_k") == "40"


def test_the_notebook_view_is_saved_on_stop(textgen: TextgenServer, context) -> None:
    page = context.new_page()
    open_textgen(page, textgen.url)
    store = textgen.store()
    show_two_columns(page, False)
    try:
        seen = len(stop_checkpoints(store))
        generate(page, NOTEBOOK, "Chapter one. The fog came in over the harbour")
        wait_until_idle(page)
        _, stopped = new_stop_checkpoint(store, seen)
        shown = wait_stable(page.locator(NOTEBOOK), quiet_s=1.0)
        assert stopped.mode == "notebook"
        assert stopped.input_text == shown
        expect(status(page)).to_contain_text("Saved on stop", timeout=30_000)
    finally:
        show_two_columns(page, True)


def test_the_page_leaves_no_traceback_in_textgens_log(textgen: TextgenServer) -> None:
    """Everything above ran without an exception in textgen (a page load must not break textgen's events)."""
    found = first_traceback(textgen.log_text())
    assert found is None, f"textgen logged an exception:\n{found}"
