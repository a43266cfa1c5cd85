"""Restarting the real textgen: the page comes back as one saved state, and KV snapshots make Continue instant.

One textgen for the module, restarted by the tests (SIGTERM, then a new process on the same user data).
llama-server runs with --metrics, so the tests read how many prompt tokens it really evaluated.
"""

from __future__ import annotations

from playwright.sync_api import Page, expect

from .textgen_page import (
    INPUT,
    OUTPUT,
    autosaves,
    button,
    checkpoints,
    choose_entry,
    generate,
    kv_usable,
    label_of,
    new_stop_checkpoint,
    open_textgen,
    restore,
    set_parameter,
    status,
    status_about,
    status_text,
    stop_after_growth,
    stop_checkpoints,
    visible,
    wait_stable,
    wait_until_idle,
)
from .textgen_server import AUTOSAVE_PASSED_S, TextgenServer

TEXTGEN = {"extra_flags": "--metrics", "settings": {"auto_max_new_tokens": False, "max_new_tokens": 24}}
PARAGRAPH = ("The harbour town woke slowly that winter morning. Fishermen mended their nets on the quay, "
             "gulls argued over scraps, and the baker opened his shutters to let the smell of warm bread drift "
             "down the cobbled lanes towards the grey and restless sea. ")
LONG_PROMPT = PARAGRAPH * 16  # about 800 tokens: re-reading them shows in llama-server's counters
TAIL_TOKENS = 16  # what Continue may re-read after a restore: the differing tail, not the prompt


def restart_and_open(textgen: TextgenServer, context, page: Page) -> Page:
    page.close()
    textgen.restart()
    page = context.new_page()
    open_textgen(page, textgen.url)
    return page


def generate_to_the_end(page: Page, textgen: TextgenServer, prompt: str):
    """Generate (it ends by itself after 24 tokens); the stop checkpoint it made."""
    store = textgen.store()
    seen = len(stop_checkpoints(store))
    generate(page, INPUT, prompt)
    wait_until_idle(page)
    return new_stop_checkpoint(store, seen)


def test_after_a_restore_and_a_restart_the_page_shows_that_one_state(textgen: TextgenServer, context) -> None:
    """Issue 7.2: textgen restores its own saved prompt too; the page must show one saved state, and say which."""
    page = context.new_page()
    open_textgen(page, textgen.url)
    _, first = generate_to_the_end(page, textgen, "First draft: the ferry left at dawn and")
    generate_to_the_end(page, textgen, "Second draft: the ferry never left, because")
    restore(page, label_of(first))
    expect(page.locator(INPUT)).to_have_value(first.input_text)
    expect(page.locator(OUTPUT)).to_have_value(first.output_text)
    # Well after the Restore (restarting right after one is the next test): an autosave has passed.
    page.wait_for_timeout(AUTOSAVE_PASSED_S * 1000)
    store = textgen.store()
    saved = [cp for _, cp in checkpoints(store)] + [a for _, a in autosaves(store)]  # before the restart

    page = restart_and_open(textgen, context, page)
    shown = (wait_stable(page.locator(INPUT), quiet_s=1.5), wait_stable(page.locator(OUTPUT), quiet_s=1.5))
    matching = [state for state in saved if (state.input_text, state.output_text) == shown]
    assert matching, f"after the restart the page mixes saved states: input {shown[0]!r} beside output {shown[1]!r}"
    assert shown == (first.input_text, first.output_text), f"the page shows {shown!r}, not the restored checkpoint"
    kinds = {"autosave" if state.trigger == "autosave" else f"{state.trigger} checkpoint" for state in matching}
    said = status_text(page)
    assert "Loaded" in said and any(f"from its {kind}" in said for kind in kinds), \
        f"the status does not say which state was loaded (one of {sorted(kinds)}): {said!r}"


def test_a_restart_right_after_a_restore_brings_back_the_restored_text(textgen: TextgenServer, context) -> None:
    """Issue 7.3: neither the autosave nor textgen's prompt file may keep the pre-restore text.

    The notes are typed between the pick and Restore, so textgen's own save of them (one second after the
    last change) is still pending when the Restore writes its prompt file: test_prompt_file.py times that.
    """
    page = context.new_page()
    open_textgen(page, textgen.url)
    session_id, older = generate_to_the_end(page, textgen, "The keeper's first log entry:")
    typed = "Later notes, typed by hand after that entry."
    choose_entry(page, ".sm-picker", label_of(older))
    page.locator(INPUT).fill(typed)
    visible(page, ".sm-restore").click()
    expect(status(page)).to_contain_text("Restored", timeout=30_000)
    expect(page.locator(INPUT)).to_have_value(older.input_text)
    kept = [a for a in textgen.store().autosaves(session_id) if a.input_text == typed]
    assert kept, "the notes typed just before the Restore were not kept in the session's history"
    page = restart_and_open(textgen, context, page)  # well within the autosave interval
    expect(page.locator(INPUT)).to_have_value(older.input_text)
    expect(page.locator(OUTPUT)).to_have_value(older.output_text)


def test_continue_after_a_restart_and_a_kv_restore_rereads_only_the_tail(textgen: TextgenServer, context) -> None:
    """Issue 7.1: a Stop keeps a KV snapshot; restored after a restart, Continue re-reads only the differing tail."""
    page = context.new_page()
    open_textgen(page, textgen.url)
    set_parameter(page, "max_new_tokens", 200)
    store = textgen.store()
    seen = len(stop_checkpoints(store))
    generate(page, INPUT, LONG_PROMPT)
    stop_after_growth(page)
    session_id, stopped = new_stop_checkpoint(store, seen)
    assert kv_usable(store, session_id, stopped), \
        f"the Stop kept no KV snapshot; the panel said: {status_about(page, stopped)!r}"
    n_tokens = stopped.kv.n_tokens

    page = restart_and_open(textgen, context, page)
    restore(page, label_of(stopped))
    expect(status(page)).to_contain_text("KV cache restored", timeout=30_000)
    expect(page.locator(OUTPUT)).to_have_value(stopped.output_text)
    before = textgen.llama_metrics()["llamacpp:prompt_tokens_total"]
    seen = len(stop_checkpoints(store))
    button(page, "Continue").click()
    expect(page.locator(OUTPUT)).not_to_have_value(stopped.output_text, timeout=60_000)  # it has started
    stop_after_growth(page)
    new_stop_checkpoint(store, seen)
    evaluated = textgen.llama_metrics()["llamacpp:prompt_tokens_total"] - before
    print(f"\nContinue after a restart and a KV restore evaluated {evaluated:.0f} prompt tokens "
          f"(the snapshot holds {n_tokens}; without it all of them are re-read)")
    assert evaluated <= TAIL_TOKENS, f"Continue re-read {evaluated:.0f} of {n_tokens} tokens after the KV restore"
