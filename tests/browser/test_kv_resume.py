"""KV snapshots as a user meets them: Continue after a restart and a Restore starts at once.

Default settings (KV snapshots "always"). A ~1000-token prompt is generated from with a few new
tokens, which saves a stop checkpoint with its KV cache. After a restart of the host the page
comes back, Restore loads the KV cache, and Continue shows new text almost at once; a control
run (restart again, KV folder deleted) has to re-read the whole prompt first.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import open_app
from demo_server import DemoServer
from playwright.sync_api import Page, expect
from ui_helpers import INPUT, OUTPUT, choose, dropdown_input, open_tab, status, visible, wait_stable

pytestmark = pytest.mark.browser

PARAGRAPH = ("The harbour town woke slowly that winter morning. Fishermen mended their nets on the quay, "
             "gulls argued over scraps, and the baker opened his shutters to let the smell of warm bread drift "
             "down the cobbled lanes towards the grey and restless sea. ")
PROMPT = PARAGRAPH * 20  # about 1000 tokens: re-reading them takes ~2.5 s on two cores
NEW_TOKENS = 8


def set_parameter(page: Page, name: str, value: int) -> None:
    """Type into the number field of a Parameters slider (or a plain number box), as a user would."""
    open_tab(page, "Parameters")
    field = page.get_by_label(f"number input for {name}").or_(page.get_by_label(name, exact=True)).first
    field.fill(str(value))
    field.press("Tab")
    expect(field).to_have_value(str(value))
    open_tab(page, "Notebook")


def restart(demo: DemoServer, context, before_start=None) -> Page:
    """SIGTERM the host, start it on the same data, open a fresh page (auto-load fills it)."""
    demo.stop()
    if before_start is not None:
        before_start()
    demo.start()
    page = context.new_page()
    open_app(page, demo.url)
    return page


def continue_until_growth(page: Page) -> None:
    """Click Continue; seconds until the first new text shows in the output box."""
    before = len(page.locator(OUTPUT).input_value())
    page.click("#continue-default")
    page.wait_for_function("([sel, n]) => document.querySelector(sel).value.length > n", arg=[OUTPUT, before],
                           polling=25, timeout=30_000)


def test_continue_after_restart_resumes_from_the_kv_snapshot(demo: DemoServer, data_dir: Path, context) -> None:
    page = context.new_page()
    open_app(page, demo.url)
    set_parameter(page, "max_new_tokens", NEW_TOKENS)
    set_parameter(page, "seed (-1 = random)", 7)

    # 1. Generate: it ends by itself after NEW_TOKENS tokens and saves a stop checkpoint with its KV.
    page.locator(INPUT).fill(PROMPT)
    page.click("#generate-default")
    expect(status(page)).to_contain_text("Saved on stop", timeout=30_000)
    expect(status(page)).to_contain_text(re.compile(r"with its KV cache \([\d,]+ tokens\)"))
    n_kv = int(re.search(r"KV cache \(([\d,]+) tokens", status(page).inner_text()).group(1).replace(",", ""))
    assert n_kv >= 900, f"the prompt should be ~1000 tokens, the KV snapshot holds {n_kv}"
    output = wait_stable(page.locator(OUTPUT), quiet_s=1.0)
    assert output.startswith(PROMPT) and len(output) > len(PROMPT)
    picker = dropdown_input(page, ".sm-picker")
    expect(picker).to_have_value(re.compile(rf"· stop · KV {n_kv} tok$"))
    stop_label = picker.input_value()
    stop_time = stop_label.split(" · ")[0]  # "MM-DD HH:MM:SS": still names it once the KV is gone
    page.close()

    # 2. Restart: auto-load brings the text back; Restore loads the KV cache; Continue starts at once.
    page = restart(demo, context)
    expect(page.locator(INPUT)).to_have_value(PROMPT)
    expect(page.locator(OUTPUT)).to_have_value(output)
    choose(page, ".sm-picker", stop_label)
    visible(page, ".sm-restore").click()
    expect(status(page)).to_contain_text(f"KV cache restored ({n_kv:,} tokens", timeout=30_000)
    assert page.locator(INPUT).input_value() == PROMPT
    assert page.locator(OUTPUT).input_value() == output
    continue_until_growth(page)  # how much sooner it starts is measured by bench/kv_resume.py
    expect(status(page)).to_contain_text("Saved on stop", timeout=30_000)  # the Continue ended and was saved
    page.close()

    # 3. The same restart and Restore with the KV folder gone: the text comes back, Continue re-reads.
    kv_dirs = list(data_dir.glob("sessions/*/kv"))
    assert kv_dirs, f"no KV folder under {data_dir}/sessions"
    page = restart(demo, context, before_start=lambda: [shutil.rmtree(d) for d in kv_dirs])
    choose(page, ".sm-picker", f"{stop_time} · stop")
    expect(dropdown_input(page, ".sm-picker")).to_have_value(re.compile(r"· stop · KV removed$"))
    visible(page, ".sm-restore").click()
    expect(status(page)).to_contain_text("Restored the stop checkpoint", timeout=30_000)
    expect(status(page)).to_contain_text("KV snapshot file is missing (deleted outside Session Manager")
    expect(status(page)).not_to_contain_text("KV cache restored")
    assert page.locator(INPUT).input_value() == PROMPT
    assert page.locator(OUTPUT).input_value() == output
    continue_until_growth(page)


def test_a_manual_save_of_new_text_gets_no_foreign_kv_snapshot(demo: DemoServer, context) -> None:
    page = context.new_page()
    open_app(page, demo.url)
    set_parameter(page, "max_new_tokens", NEW_TOKENS)
    page.locator(INPUT).fill(PARAGRAPH)
    page.click("#generate-default")  # the engine now holds this paragraph and its continuation
    expect(status(page)).to_contain_text("Saved on stop", timeout=30_000)
    page.locator(OUTPUT).fill("")
    page.locator(INPUT).fill("A different story, typed by hand: the model never read it.")
    visible(page, ".sm-save").click()
    expect(status(page)).to_contain_text("Checkpoint saved", timeout=30_000)
    expect(dropdown_input(page, ".sm-picker")).to_have_value(re.compile(r"· manual"))
    label = dropdown_input(page, ".sm-picker").input_value()
    assert label.endswith("· manual"), f"a KV snapshot of other text was attached: {label!r}"
    # Typed text the model never read is the normal case: the status does not warn about it.
    assert "KV" not in status(page).inner_text() and "tokens agree" not in status(page).inner_text()
