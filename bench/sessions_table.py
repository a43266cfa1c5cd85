"""The Sessions tab's table at 1,000, 10,000 and 100,000 sessions, timed on the code a click runs.

The stores are the ones bench/store_scale.py writes (sessions of one ~2 KB checkpoint; "lighthouse" in
most, "zeppelin" in one), indexed by the store itself before anything is timed. Timed, medians:
- a page of the table as a render computes it (``workspace.browser.state``: the page's rows and the
  total), for the first page, a middle one and the last, in every order the table offers;
- the first page of a search typed into the box: a word most sessions hold, a word in one, the first
  letter and the first two letters of a word (what the table shows after one key and after two), and a
  middle page of a word most sessions hold (the first one shown, once, and again);
- a whole ``Panel.render`` (the three views and the table), and a click on a row (select and render).

Prints a Markdown table with growth columns and writes bench/results/sessions_table.json.
Run: .venv/bin/python bench/sessions_table.py [--keep DIR] [--sizes 1000 10000 100000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_scale import _host, measured, median_ms, print_table  # noqa: E402

from session_manager.app.session_table import SORT_CHOICES  # noqa: E402
from session_manager.app.workspace import Workspace  # noqa: E402
from session_manager.store import SessionStore  # noqa: E402

SIZES = [1_000, 10_000, 100_000]
TAB = "bench"
Row = dict[str, float]


def measure(root: Path, ids: dict[str, str]) -> Row:
    started = time.monotonic()
    command = SessionStore(root)
    command.list_sessions(limit=1)  # index.sqlite is built (as the first command builds it) before any timing
    command.close()
    print(f"  indexed in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    host = _host(root)
    host.store.list_sessions(limit=1)
    host.store.upkeep.indexing.wait(600)  # a host's first comparison of every folder runs beside: not timed
    workspace = Workspace(host.recorder)
    browser = workspace.browser
    row: Row = {}

    def page(**browse: Any) -> Callable[[], Any]:
        def show() -> Any:
            browser.browse(TAB, **browse)
            return browser.state(TAB, ids["last"])
        return show

    total = browser.state(TAB, None).pages
    for label, sort in SORT_CHOICES:
        for descending in (True, False):
            way = "descending" if descending else "ascending"
            row[f"table page 1, by {label.lower()} ({way})"] = median_ms(
                page(text="", sort=sort, descending=descending, page=1), 20)
        row[f"table middle page, by {label.lower()}"] = median_ms(page(sort=sort, descending=True,
                                                                       page=max(1, total // 2)), 10)
        row[f"table last page, by {label.lower()}"] = median_ms(page(sort=sort, descending=True, page=total), 10)
    for sort in ("updated", "name"):
        row[f"search first page, a word most sessions hold, by {sort}"] = median_ms(
            page(text="lighthouse", sort=sort, page=1), 10)
    row["search first page, a word one session holds"] = median_ms(page(text="zeppelin", page=1), 10)
    row["search first page, one letter typed (\"l\": the word itself only)"] = median_ms(
        page(text="l", sort="updated", page=1), 10)
    row["search first page, two letters typed (\"li\": most sessions)"] = median_ms(
        page(text="li", sort="updated", page=1), 10)
    # The first deep page puts the word's hits in order (once per state of the index); the pages after it,
    # and that page again, are slices of that order.
    row["search, a middle page of a word most sessions hold: the first one shown (1 run)"] = median_ms(
        page(text="lighthouse", sort="updated", page=max(1, total // 2)), 1)
    row["search, a middle page of a word most sessions hold"] = median_ms(
        page(text="lighthouse", sort="updated", page=max(1, total // 2)), 5)
    row["search, the middle page of a word most sessions hold, by name: first shown (1 run)"] = median_ms(
        page(text="lighthouse", sort="name", page=max(1, total // 2)), 1)
    row["search first page, tag:NAME"] = median_ms(page(text="tag:none", page=1), 10)
    browser.browse(TAB, text="", sort="updated", descending=True, page=1)
    render, select = _panel(workspace)
    row["`Panel.render` of the three views with the table"] = median_ms(lambda: render(TAB), 10)
    row["a click on a row: select the session and render"] = median_ms(lambda: select(TAB, ids["needle"]), 10)
    host.recorder.stop()
    host.store.close()
    return row


def _panel(workspace: Workspace) -> tuple[Callable[[str], Any], Callable[[str, str], Any]]:
    """The panel as the demo builds it; what a row click runs after reading the row's id."""
    import gradio as gr

    from session_manager.ui.binding import ChatBinding, PageBinding
    from session_manager.ui.panel import Panel

    with gr.Blocks() as app:
        text = PageBinding(input_box=gr.Textbox(), output_box=gr.Textbox(), params={})
        chat = ChatBinding(history=gr.State(), display=gr.Chatbot(), params={})
        panel = Panel(workspace)
        panel.quick_bar(text)
        panel.quick_bar(chat)
        panel.manager()
        panel.finish(app, [text, chat])

    def select(tab: str, session_id: str) -> Any:
        workspace.select_session(tab, session_id)
        return panel.render(tab, selected=None)

    return lambda tab: panel.render(tab), select


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", type=Path, default=None, help="build the stores here and keep them")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="numbers of sessions")
    args = parser.parse_args()
    SIZES[:] = args.sizes
    context = tempfile.TemporaryDirectory() if args.keep is None else None
    base = args.keep or Path(context.name)  # type: ignore[union-attr]
    import store_scale
    store_scale.SIZES[:] = SIZES
    results = measured(base, measure)
    print_table(results)
    out = Path(__file__).parent / "results" / "sessions_table.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"sizes": SIZES, "median_ms": results}, indent=2))
    if context is not None:
        context.cleanup()


if __name__ == "__main__":
    main()
