"""The history at scale: a session of 20, 200 and 2,000 checkpoints side by side, in one run.

Each session is built through the public API (a growing story of about 2-4 KB per checkpoint,
an autosave after every tenth checkpoint, three branches), then timed:

- the timeline's points from the index (``timeline_points``) and the picture drawn from them
  (``render_timeline``), with the size of the HTML the page receives;
- what the points would cost read from the checkpoint files instead (``list_checkpoints``);
- the page drawing that HTML: Chromium sets it into a page with the panel's CSS and lays it
  out (time to the next animation frame), when Chromium and Playwright are here;
- one Back step (undo) in the session;
- the word diff of a 20,000-word story with three edits, and of a 2,000-word passage rewritten
  whole, with the size of the drawn diff.

Medians of several runs; prints a Markdown table and writes bench/results/timeline_scale.json.

Run: .venv/bin/python bench/timeline_scale.py
"""

from __future__ import annotations

import functools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from factories import make_workspace  # noqa: E402

from session_manager.app.history.diff import diff_states  # noqa: E402
from session_manager.app.history.diff_html import render_diff  # noqa: E402
from session_manager.app.history.timeline import render_timeline, timeline_points  # noqa: E402
from session_manager.models import Checkpoint, new_checkpoint_id, utcnow  # noqa: E402
from session_manager.recording.page_mirror import PageContent  # noqa: E402
from session_manager.store import SessionStore  # noqa: E402
from session_manager.ui.history_block import HISTORY_CSS  # noqa: E402

SIZES = [20, 200, 2_000]
RUNS = 7
WORDS = ["lighthouse", "keeper", "harbour", "storm", "lantern", "ship", "rope", "tide", "gull", "night",
         "morning", "bread", "letter", "door", "stair", "window", "island", "boat", "sail", "wave"]
CHROMIUM = Path("/usr/bin/chromium")


def story(words: int, seed: int = 0) -> str:
    out = []
    for k in range(words):
        out.append(WORDS[(k * 7 + seed * 3 + k // 13) % len(WORDS)])
        if k % 12 == 11:
            out[-1] += "."
    return " ".join(out)


def build_session(store: SessionStore, size: int) -> str:
    meta = store.create_session(f"{size} checkpoints")
    base = story(600)
    last = None
    for i in range(size):
        text = base[: 2000 + (i * 37) % 2000]
        last = store.add_checkpoint(meta.id, Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text=text,
                                                        trigger="stop" if i % 3 else "manual"))
        if i % 10 == 9:
            store.write_autosave(meta.id, Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text=text + " x",
                                                     trigger="autosave"))
    assert last is not None, "a session of no checkpoints has nothing to branch from"
    for n in range(3):
        store.branch(meta.id, last.id, f"branch {n}")
    return meta.id


def median_ms(action: Callable[[], Any], runs: int = RUNS) -> float:
    action()  # warm: the index has the rows, the files are in the page cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def back_step(workspace: Any, session_id: str, tab: str) -> Callable[[], Any]:
    """One Back from the session's newest state (the page is put back there first, untimed... almost:
    showing a page is a memory write)."""
    page = workspace.page(tab, "text")
    newest = PageContent.of(workspace.store.latest_state(session_id))

    def back() -> Any:
        workspace.history.steps.forget(page)
        page.show(newest, session_id)
        return workspace.history.steps.step(page, -1)

    return back


def draw_times(pictures: dict[int, str]) -> dict[int, float] | None:
    """Milliseconds for Chromium to take each picture into the page and lay it out (median of RUNS)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not CHROMIUM.exists():
        return None
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
    from demo_server import CHROMIUM_ARGS

    script = """async (html) => {
      const box = document.getElementById('box');
      box.innerHTML = '';
      await new Promise(r => requestAnimationFrame(() => r()));
      const start = performance.now();
      box.innerHTML = html;
      box.getBoundingClientRect();
      await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r())));
      return performance.now() - start;
    }"""
    found = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_content(f"<style>{HISTORY_CSS}</style><div id='box' style='width:1200px'></div>")
        for size, html in pictures.items():
            page.evaluate(script, html)
            found[size] = statistics.median(page.evaluate(script, html) for _ in range(RUNS))
        browser.close()
    return found


def main() -> None:
    results: dict[str, Any] = {"sizes": SIZES, "rows": {}}
    with tempfile.TemporaryDirectory(prefix="sm-timeline-bench-") as tmp:
        workspace = make_workspace(Path(tmp) / "store")
        store = workspace.store
        sessions = {size: build_session(store, size) for size in SIZES}
        rows: dict[str, dict[int, float]] = {name: {} for name in (
            "timeline points (index)", "timeline drawn (SVG + HTML)", "timeline HTML (KB)",
            "the points read from the checkpoint files", "one Back step")}
        pictures = {}
        for size, session_id in sessions.items():
            rows["timeline points (index)"][size] = median_ms(functools.partial(timeline_points, store, session_id))
            points = timeline_points(store, session_id)
            rows["timeline drawn (SVG + HTML)"][size] = median_ms(
                functools.partial(render_timeline, points, points[0].choice))
            pictures[size] = render_timeline(points, points[len(points) // 2].choice)
            rows["timeline HTML (KB)"][size] = len(pictures[size].encode()) / 1000
            rows["the points read from the checkpoint files"][size] = median_ms(
                functools.partial(store.list_checkpoints, session_id), runs=3)
            rows["one Back step"][size] = median_ms(back_step(workspace, session_id, f"bench-{size}"))
        drawn = draw_times(pictures)
        if drawn is not None:
            rows["the page draws the timeline (Chromium)"] = drawn
        workspace.recorder.timer.stop()

    long_text = story(20_000, seed=1)
    words = long_text.split(" ")
    words[5_000] = "whale"  # three edits: a word changed, a sentence added, a word removed
    words[10_000:10_000] = ["A", "new", "sentence", "was", "written", "here."]
    del words[15_000]
    edited = " ".join(words)
    old_state = Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text=long_text)
    new_state = Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text=edited)
    rewritten = Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text=story(2_000, seed=5))
    diffs = {
        "diff of 20,000 words, 3 edits": (old_state, new_state),
        "diff of 2,000 words rewritten whole": (Checkpoint(id=new_checkpoint_id(), created=utcnow(),
                                                           input_text=story(2_000, seed=2)), rewritten),
    }
    diff_rows = {}
    for name, (a, b) in diffs.items():
        diff_ms = median_ms(functools.partial(diff_states, a, b), runs=5)
        html = render_diff(diff_states(a, b), "a", "b", "side by side")
        diff_rows[name] = {"ms": diff_ms, "html_kb": len(html.encode()) / 1000,
                           "added": diff_states(a, b).words("insert")}
    results["rows"] = {name: {str(k): v for k, v in values.items()} for name, values in rows.items()}
    results["diffs"] = diff_rows

    big, small = SIZES[-1], SIZES[0]
    print(f"| operation | {' | '.join(f'{s:,} checkpoints' for s in SIZES)} | {big:,} / {small} |")
    print(f"| --- | {' | '.join('---' for _ in SIZES)} | --- |")
    for name, values in rows.items():
        unit = "" if "KB" in name else " ms"
        cells = " | ".join(f"{values[s]:,.1f}{unit}" for s in SIZES)
        print(f"| {name} | {cells} | {values[big] / values[small]:.1f}x |")
    print()
    print("| diff | time | side-by-side HTML |")
    print("| --- | --- | --- |")
    for name, row in diff_rows.items():
        print(f"| {name} | {row['ms']:,.0f} ms | {row['html_kb']:,.1f} KB |")
    out = Path(__file__).resolve().parent / "results" / "timeline_scale.json"
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
