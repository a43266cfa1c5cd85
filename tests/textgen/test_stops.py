"""Generations that end early in the real textgen: Stop at random moments, and a tab closed mid-generation.

One textgen for the module; generations are up to 400 tokens, so they are still running when stopped.
"""

from __future__ import annotations

import random
import time

from playwright.sync_api import expect

from .textgen_page import (
    INPUT,
    NOTEBOOK,
    OUTPUT,
    generate,
    kv_usable,
    new_stop_checkpoint,
    open_textgen,
    press_stop,
    set_parameter,
    show_two_columns,
    status_about,
    stop_checkpoints,
    wait_until_idle,
)
from .textgen_server import TextgenServer

TEXTGEN = {"settings": {"auto_max_new_tokens": False, "max_new_tokens": 400}}
STOPS = 20
REQUIRED = 19
SEED = 20261123


def test_stops_at_random_moments_keep_a_usable_kv_snapshot(textgen: TextgenServer, context) -> None:
    """Issue 7.1: at least 19 of 20 Stops keep a KV snapshot (the JSON names it and the blob is on disk)."""
    rng = random.Random(SEED)
    page = context.new_page()
    open_textgen(page, textgen.url)
    store = textgen.store()
    results = []
    try:
        _stop_repeatedly(page, store, rng, results)
    finally:
        show_two_columns(page, True)
    kept_count = sum(1 for *_, kept, _ in results if kept)
    stops = sum(1 for _, _, by_hand, _, _ in results if by_hand)
    print(f"\nKV snapshot kept after {kept_count} of {STOPS} generations ({stops} stopped by hand at random "
          f"moments, seed {SEED})")
    missing = "\n".join(f"  #{n} {view}{'' if by_hand else ' (ended by itself)'}: {said}"
                        for n, view, by_hand, kept, said in results if not kept)
    assert kept_count >= REQUIRED, f"only {kept_count} of {STOPS} kept a KV snapshot; the others said:\n{missing}"


def _stop_repeatedly(page, store, rng: random.Random, results: list) -> None:
    """Generate and Stop STOPS times, half in the Default view, half in the Notebook view."""
    for index in range(STOPS):
        notebook = index >= STOPS // 2  # the second half in the Notebook view
        if index == STOPS // 2:
            show_two_columns(page, False)
        seen = len(stop_checkpoints(store))
        generate(page, NOTEBOOK if notebook else INPUT, f"Story {index + 1}: the night the lighthouse went dark,")
        time.sleep(rng.uniform(0.0, 1.5))  # the random moment is the point here
        stopped_by_hand = press_stop(page)
        wait_until_idle(page)
        session_id, checkpoint = new_stop_checkpoint(store, seen)
        kept = kv_usable(store, session_id, checkpoint)
        said = status_about(page, checkpoint)
        results.append((index + 1, "Notebook" if notebook else "Default", stopped_by_hand, kept, said))


def test_closing_the_tab_during_a_generation_still_saves_it(textgen: TextgenServer, context) -> None:
    """Issue 7.6: a generation that ends for any reason is saved, also when its tab is closed."""
    page = context.new_page()
    open_textgen(page, textgen.url)
    if not page.locator(INPUT).is_visible():
        show_two_columns(page, True)
    set_parameter(page, "max_new_tokens", 80)  # still running when the tab closes, over soon after
    store = textgen.store()
    seen = len(stop_checkpoints(store))
    prompt = "A long letter from the keeper of the northern light, written on a stormy night:"
    generate(page, INPUT, prompt)
    expect(page.locator(OUTPUT)).not_to_have_value(prompt)
    page.close()
    _, checkpoint = new_stop_checkpoint(store, seen, timeout=30,
                                        what="closing the tab during a generation wrote no stop checkpoint")
    assert checkpoint.output_text.startswith(prompt) and len(checkpoint.output_text) > len(prompt)
