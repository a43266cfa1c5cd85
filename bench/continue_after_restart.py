"""Continue after a restart, through the browser in the real textgen: how soon the first new text shows.

The real textgen (llama.cpp loader, Gemma 3 270M, 2 threads) with Session Manager, driven in Chromium as a
user drives it in the Default view: a long prompt (~1,500 tokens) is generated from and ends by itself (a
stop checkpoint with its KV snapshot). Then, side by side in one run, round after round:

    never restarted     Continue, in the same textgen, the engine still holding the text
    after a restart     textgen restarts; the page comes back; Restore the newest stop checkpoint (its KV
                        snapshot is loaded into the idle engine), then Continue
    (once, at the end)  after a restart without Restore: Continue re-reads the whole text

Each Continue is timed in the page, from the click to the first change of the output box. llama-server runs
with --metrics: its counters say how many prompt tokens each Continue read and how long it took to read them.

    SESSION_MANAGER_TEXTGEN=/path/to/install python bench/continue_after_restart.py [--rounds 3]

Prints a markdown table, writes bench/results/continue_after_restart-<textgen commit>.json, progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from tests.browser.demo_server import CHROMIUM_ARGS  # noqa: E402
from tests.factories import CHROMIUM, VIEWPORT  # noqa: E402
from tests.textgen.textgen_install import find_or_install  # noqa: E402
from tests.textgen.textgen_page import (  # noqa: E402
    INPUT,
    OUTPUT,
    button,
    label_of,
    new_stop_checkpoint,
    open_textgen,
    restore,
    status,
    stop_checkpoints,
    wait_until_idle,
)
from tests.textgen.textgen_server import TEST_SETTINGS, TextgenServer  # noqa: E402

PARAGRAPH = ("The harbour town woke slowly that winter morning. Fishermen mended their nets on the quay, "
             "gulls argued over scraps, and the baker opened his shutters to let the smell of warm bread drift "
             "down the cobbled lanes towards the grey and restless sea. ")
NEW_TOKENS = 8
# Click Continue and time, in the page, until the output box first changes.
CONTINUE_JS = """() => new Promise(resolve => {
  const box = document.querySelector('#textbox-default textarea');
  const before = box.value;
  const go = [...document.querySelectorAll('button')].find(b => b.innerText.trim() === 'Continue' &&
                                                            b.offsetParent !== null);
  const start = performance.now();
  go.click();
  const tick = setInterval(() => {
    if (box.value !== before) { clearInterval(tick); resolve(performance.now() - start); }
  }, 5);
})"""


def continue_once(page: Page, textgen: TextgenServer) -> dict[str, Any]:
    """Continue; the time to its first new text, and what llama-server read for it. Waits for its save."""
    store = textgen.store()
    seen = len(stop_checkpoints(store))
    before = textgen.llama_metrics()
    first_ms = page.evaluate(CONTINUE_JS)
    wait_until_idle(page)
    new_stop_checkpoint(store, seen, timeout=120)  # saved with its KV before the next step
    after = textgen.llama_metrics()
    read = after["llamacpp:prompt_tokens_total"] - before["llamacpp:prompt_tokens_total"]
    reading = after["llamacpp:prompt_seconds_total"] - before["llamacpp:prompt_seconds_total"]
    return {"first_text_ms": round(first_ms), "tokens_read": int(read), "reading_ms": round(reading * 1000)}


def restart_and_open(textgen: TextgenServer, context: Any, page: Page) -> Page:
    page.close()
    textgen.restart()
    page = context.new_page()
    open_textgen(page, textgen.url)
    return page


def run(textgen: TextgenServer, context: Any, rounds: int, prompt: str) -> dict[str, Any]:
    page = context.new_page()
    open_textgen(page, textgen.url)
    store = textgen.store()
    seen = len(stop_checkpoints(store))
    page.locator(INPUT).fill(prompt)
    button(page, "Generate").click()
    wait_until_idle(page, timeout_ms=600_000)
    _, checkpoint = new_stop_checkpoint(store, seen, timeout=120)
    _progress(f"the text holds {checkpoint.kv.n_tokens if checkpoint.kv else '?'} tokens")
    result: dict[str, Any] = {"text_tokens": checkpoint.kv.n_tokens if checkpoint.kv else None,
                              "never_restarted": [], "after_restart": [], "restore_ms": []}
    for r in range(rounds):
        _progress(f"round {r + 1}: Continue, never restarted")
        result["never_restarted"].append(continue_once(page, textgen))
        newest = stop_checkpoints(store)[-1][1]
        _progress(f"round {r + 1}: restart, Restore, Continue")
        page = restart_and_open(textgen, context, page)
        restore(page, label_of(newest))
        expect(status(page)).to_contain_text("KV cache restored", timeout=60_000)
        loaded = re.search(r"KV cache restored \(([\d,]+) tokens in ([\d,]+) ms", status(page).inner_text())
        result["restore_ms"].append(int(loaded.group(2).replace(",", "")) if loaded else None)
        result["after_restart"].append(continue_once(page, textgen))
    _progress("restart, Continue without Restore (re-reads the text)")
    page = restart_and_open(textgen, context, page)
    expect(page.locator(OUTPUT)).not_to_have_value("", timeout=60_000)
    result["reread"] = continue_once(page, textgen)
    page.close()
    return result


def table(result: dict[str, Any]) -> str:
    def row(name: str, runs: list[dict[str, Any]]) -> str:
        first = statistics.median(r["first_text_ms"] for r in runs)
        read = statistics.median(r["tokens_read"] for r in runs)
        reading = statistics.median(r["reading_ms"] for r in runs)
        return (f"| {name} | {first:,.0f} ms | {read:,.0f} | {reading:,.0f} ms | {first - reading:,.0f} ms | "
                f"{', '.join(str(r['first_text_ms']) for r in runs)} |")

    never = statistics.median(r["first_text_ms"] for r in result["never_restarted"])
    after = statistics.median(r["first_text_ms"] for r in result["after_restart"])
    return "\n".join([
        f"Text of {result['text_tokens']:,} tokens, textgen {result['textgen']}, medians of {result['rounds']} rounds:",
        "",
        "| Continue | first new text | prompt tokens read | llama-server reading them | the rest | each run (ms) |",
        "|---|---:|---:|---:|---:|---|",
        row("never restarted", result["never_restarted"]),
        row("after a restart, Restore (KV snapshot)", result["after_restart"]),
        row("after a restart, no Restore (re-read)", [result["reread"]]),
        "",
        f"after a restart / never restarted: {after / never:.2f}x; Restore loaded the snapshot in "
        f"{statistics.median(m for m in result['restore_ms'] if m is not None):,.0f} ms (median)"])


def main() -> None:
    args = _parse_args()
    install = find_or_install(_progress)
    commit = (install.textgen_dir / ".commit").read_text().strip() if (install.textgen_dir / ".commit").exists() \
        else "unknown"
    started, load_before = time.time(), os.getloadavg()
    settings = {**TEST_SETTINGS, "auto_max_new_tokens": False, "max_new_tokens": NEW_TOKENS}
    with tempfile.TemporaryDirectory(prefix="continue-bench-") as work, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(60_000)
        expect.set_options(timeout=60_000)
        textgen = TextgenServer(install, args.workdir or Path(work), extra_flags="--metrics", settings=settings)
        try:
            textgen.start()
            result = run(textgen, context, args.rounds, PARAGRAPH * args.paragraphs)
        finally:
            textgen.stop()
            browser.close()
    result.update(textgen=commit, rounds=args.rounds, model=install.model.name, threads=2,
                  cpu_count=os.cpu_count(), machine=platform.platform(), loadavg_before=load_before,
                  loadavg_after=os.getloadavg(), seconds=round(time.time() - started),
                  started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)))
    out = args.out or ROOT / "bench" / "results" / f"continue_after_restart-{commit}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    _progress(f"wrote {out}")


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="Continues of each kind (each round restarts once)")
    parser.add_argument("--paragraphs", type=int, default=30, help="the prompt's length: 30 make ~1,500 tokens")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=None, help="keep textgen's folder and logs here")
    return parser.parse_args()


if __name__ == "__main__":
    main()
