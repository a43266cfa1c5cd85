"""The store at 1,000, 10,000 and 100,000 sessions, timed on the very code a user waits for.

Each store holds sessions of one checkpoint of about 2 KB of text (words from a list of 20, so
"lighthouse" is in most sessions and "zeppelin" in one). The files are written directly in the
store's format (session.json and checkpoints/<id>.json, made from the store's own models): building
100,000 sessions through the API takes hours on 2 cores, and what is timed here is reading them.
index.sqlite is then built by the store itself (the first `session-manager list`, timed).

Timed, medians of several runs unless said otherwise:
- the panel: ``view.panel_state`` of one view (as every refresh computes it, up to 3 per render),
  the same with a word in the search box, and a whole ``Panel.render`` of the three views
  (quick bars of the text and chat views and the manager, built in Gradio as the demo builds them);
- search, first page (the panel's 100), for a word most sessions hold and for a word in one;
- the CLI as whole processes: ``list`` (its default page), ``show ID``, ``list --all --json``,
  ``doctor --quick``, and the first ``list`` after index.sqlite was deleted (one run each for the
  whole-store ones);
- setup(): the store opened as a host opens it (SessionStore, the folder watch, the recorder, the
  auto-load of the last session, the first panel state), and the memory of such a process;
- ``revision()`` (the panel's poll), how long an outside edit takes to show, adding a checkpoint.

Prints a Markdown table with growth columns and writes bench/results/store_scale.json.
Run: .venv/bin/python bench/store_scale.py [--keep DIR] [--sizes 1000 10000 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from session_manager.app.panel_state import SESSION_LIMIT, panel_state  # noqa: E402
from session_manager.models import Checkpoint, SessionMeta, new_checkpoint_id, utcnow  # noqa: E402
from session_manager.recording.page_mirror import Page  # noqa: E402
from session_manager.store import SessionStore  # noqa: E402
from session_manager.store.layout import Layout  # noqa: E402

SIZES = [1_000, 10_000, 100_000]
WORDS = [
    "lighthouse", "keeper", "harbour", "storm", "lantern", "ship", "rope", "tide", "gull", "night",
    "morning", "bread", "letter", "door", "stair", "window", "island", "boat", "sail", "wave",
]
REPO = Path(__file__).resolve().parents[1]
CLI = "import sys; from session_manager.cli import cli; cli(sys.argv[1:], prog_name='session-manager')"
Row = dict[str, float]
WHOLE = [True]  # time the whole-store rows too


def text_for(i: int) -> str:
    words = [WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(330)]  # about 2 KB
    return " ".join(words)


def build(root: Path, sessions: int) -> dict[str, str]:
    """Write ``sessions`` session folders in the store's format; returns the ids the bench needs."""
    marker = root / "built.json"
    if marker.exists():
        return json.loads(marker.read_text())
    layout = Layout(root)
    layout.sessions.mkdir(parents=True, exist_ok=True)
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    ids: dict[str, str] = {}
    for i in range(sessions):
        when = start + timedelta(seconds=i * 3)
        session_id = f"{when:%Y%m%dT%H%M%S}Z-{secrets.token_hex(3)}"
        notes = "the only zeppelin in the store" if i == sessions // 2 else ""
        meta = SessionMeta(id=session_id, name=f"Session {i:06d} {WORDS[i % len(WORDS)]}", created=when,
                           updated=when, notes=notes)
        checkpoint = Checkpoint(id=new_checkpoint_id(when), created=when, trigger="stop", input_text=text_for(i),
                                output_text=text_for(i) + " the end")
        layout.checkpoints(session_id).mkdir(parents=True)
        layout.session_file(session_id).write_text(meta.model_dump_json(indent=2))
        layout.checkpoint(session_id, checkpoint.id).write_text(checkpoint.model_dump_json(indent=2))
        if i == sessions // 2:
            ids["needle"] = session_id
        if i == 0:
            ids["oldest"] = session_id
        ids["last"] = session_id
    marker.write_text(json.dumps(ids))
    return ids


# ----- timing -------------------------------------------------------------------------------


def median_ms(call: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def cli_ms(root: Path, args: list[str], runs: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-c", CLI, "--data-dir", str(root), *args]
    return median_ms(lambda: subprocess.run(argv, check=True, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, env=env), runs)


def measure(root: Path, ids: dict[str, str]) -> Row:
    row: Row = {}
    if WHOLE[0]:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{root / 'index.sqlite'}{suffix}").unlink(missing_ok=True)
        row["first `list` after index.sqlite is deleted (process, rebuilds it; 1 run)"] = cli_ms(root, ["list"], 1)
    row["`session-manager --version` (process: Python and the imports)"] = cli_ms(root, ["--version"], 5)
    row["`list` (process, default page)"] = cli_ms(root, ["list"], 5)
    row["`show ID` (process)"] = cli_ms(root, ["show", ids["needle"]], 5)
    if WHOLE[0]:
        row["`list --all --json` (process)"] = cli_ms(root, ["list", "--all", "--json"], 1)
    row["setup(): store, watch, recorder, auto-load, first panel"] = _setup_ms(root, 5)
    host = _host(root)
    store = host.store
    # A host in its steady state: the folders it watches are added, and its first comparison of every
    # folder with the index (beside the page, in a store larger than SYNC_SWEEP_MAX) is done.
    store.upkeep.watching(timeout=120)
    started = time.perf_counter()
    store.upkeep.indexing.wait(600)
    row["a host's first comparison of the folders, after its watches are added (s)"] = time.perf_counter() - started
    page = Page("bench", session_id=ids["last"])
    row["`view.panel_state` (one view)"] = median_ms(lambda: panel_state(store, page), 20)
    row["`view.panel_state` with a common word in the search box"] = median_ms(
        lambda: panel_state(store, page, "lighthouse"), 10)
    render = _panel(host)
    if render is not None:
        row["`Panel.render` of the three views"] = median_ms(render, 10)
    row["search, first page, a word most sessions hold"] = median_ms(
        lambda: store.search("lighthouse", limit=SESSION_LIMIT), 10)
    row["search, first page, a word one session holds"] = median_ms(
        lambda: store.search("zeppelin", limit=SESSION_LIMIT), 10)
    row["`revision()` (the panel's poll)"] = median_ms(store.revision, 50)
    # The slowest of three edits: the oldest, the middle and the newest session (a store beyond the system's
    # limit on watches has the inner folders of its oldest sessions compared by time; their session.json is
    # still watched).
    row["an outside edit seen by a watching host (s)"] = max(
        _outside_edit_seconds(store, ids[which]) for which in ("oldest", "needle", "last"))
    row["sessions whose checkpoint folders are compared by time, not watched"] = _unwatched(store)
    row["add a checkpoint"] = _add_ms(store, ids["last"])
    host.recorder.stop()
    store.close()
    _settle()
    row["memory of a host process after setup, 3 renders and its first sweep (MB, peak)"] = _memory_mb(
        root, ids["last"])
    if WHOLE[0]:
        row["`doctor --quick` (process, 1 run)"] = cli_ms(root, ["doctor", "--quick"], 1)
    return row


class _Host:
    def __init__(self, store: SessionStore, recorder: Any) -> None:
        self.store = store
        self.recorder = recorder


def _host(root: Path) -> _Host:
    """What a host's setup() does with the store (hosts/textgen and hosts/demo), without a model."""
    sys.path.insert(0, str(REPO / "tests"))
    from factories import TextOnlyHost

    from session_manager.recording.recorder import Recorder
    from session_manager.settings import SettingsManager, load_shipped

    settings = SettingsManager(load_shipped())
    settings.attach_store(root)
    store = SessionStore(root)
    store.upkeep.watch()
    recorder = Recorder(store, settings, TextOnlyHost())
    recorder.boot()
    return _Host(store, recorder)


def _setup_ms(root: Path, runs: int) -> float:
    """From nothing to the first panel state, as a host starts (closing the store is not timed)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        host = _host(root)
        present = host.recorder.presents.get("text")
        panel_state(host.store, Page("bench", session_id=present.session_id if present else None))
        times.append(time.perf_counter() - started)
        host.recorder.timer.stop()
        host.store.close()
        _settle()
    return statistics.median(times) * 1000


def _settle(timeout: float = 120) -> None:
    """Wait for a closed host's threads (a watch still adding folders, a sweep) to end, so that one
    measure never runs beside the leftovers of another."""
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if thread.name in ("session-manager-watch", "session-manager-unwatch", "session-manager-index",
                           "session-manager-folder-watches"):
            thread.join(max(0.0, deadline - time.monotonic()))


def _panel(host: _Host) -> Callable[[], Any] | None:
    try:
        import gradio as gr

        from session_manager.app.workspace import Workspace
        from session_manager.ui.binding import ChatBinding, PageBinding
        from session_manager.ui.panel import Panel
    except ImportError:
        return None
    workspace = Workspace(host.recorder)
    with gr.Blocks() as app:
        text = PageBinding(input_box=gr.Textbox(), output_box=gr.Textbox(), params={})
        chat = ChatBinding(history=gr.State(), display=gr.Chatbot(), params={})
        panel = Panel(workspace)
        panel.quick_bar(text)
        panel.quick_bar(chat)
        panel.manager()
        panel.finish(app, [text, chat])
    return lambda: panel.render("bench")


EDITOR = """
import json, sys, pathlib
path = pathlib.Path(sys.argv[1])
doc = json.loads(path.read_text())
doc["name"] = sys.argv[2]
with open(path, "r+") as handle:
    handle.write(json.dumps(doc))
    handle.truncate()
"""


def _outside_edit_seconds(store: SessionStore, session_id: str) -> float:
    """A second process edits an old session.json in place; the host polls revision() as the panel does
    (with the folder watch when it could start, else by comparing folder times)."""
    store.upkeep.watching(timeout=120)
    name = f"edited elsewhere {time.time()}"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", EDITOR, str(store.layout.session_file(session_id)), name], check=True)
    while time.perf_counter() - started < 60:
        store.revision()
        found = store.session_summary(session_id)
        if found is not None and found.name == name:
            return time.perf_counter() - started
        time.sleep(0.05)
    return float("inf")


def _unwatched(store: SessionStore) -> float:
    """How many sessions a store too large for the system's limit on watches leaves to the comparison of
    folder times (0 when every folder is watched)."""
    up_to = getattr(store._core.catalog.watch._observer, "unwatched_up_to", "")
    return float(sum(1 for session_id in store.layout.session_ids() if session_id <= up_to)) if up_to else 0.0


def _add_ms(store: SessionStore, session_id: str, runs: int = 30) -> float:
    times = []
    for i in range(runs):
        checkpoint = Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text=text_for(i),
                                output_text=text_for(i))
        started = time.perf_counter()
        store.add_checkpoint(session_id, checkpoint)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


# The process's own peak (VmHWM), once its first comparison of every folder (beside the page) is done too.
# Not ru_maxrss: on Linux a child started by subprocess inherits the peak of the process that started it (the
# bench itself, with Gradio and three stores' work behind it) and reports that instead of its own.
MEMORY = """
import resource, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from store_scale import _host, panel_state, Page
host = _host(Path(sys.argv[2]))
host.store.upkeep.watching(timeout=120)
for query in ("", "lighthouse", ""):
    panel_state(host.store, Page("bench", session_id=sys.argv[3]), query)
host.store.upkeep.indexing.wait(600)
try:
    with open("/proc/self/status") as status:
        print(next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024)
except (OSError, StopIteration):
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def _memory_mb(root: Path, session_id: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", MEMORY, str(REPO / "bench"), str(root), session_id], check=True,
                         capture_output=True, text=True, env=env).stdout
    return float(out.strip().splitlines()[-1])


# ----- report -------------------------------------------------------------------------------


def measured(base: Path, measure_one: Callable[[Path, dict[str, str]], Row]) -> dict[str, Row]:
    """Each size's store built (or reused) below ``base`` and measured by ``measure_one``, with progress."""
    results: dict[str, Row] = {}
    for size in SIZES:
        root = base / f"store-{size}"
        started = time.monotonic()
        ids = build(root, size)
        print(f"{size:,} sessions written in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
        started = time.monotonic()
        results[str(size)] = measure_one(root, ids)
        print(f"measured {size:,} sessions in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", type=Path, default=None, help="build the stores here and keep them")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="numbers of sessions")
    parser.add_argument("--no-whole-store", action="store_true",
                        help="skip the rows that read every session (rebuild, list --all, doctor)")
    args = parser.parse_args()
    WHOLE[0] = not args.no_whole_store
    SIZES[:] = args.sizes
    context = tempfile.TemporaryDirectory() if args.keep is None else None
    base = args.keep or Path(context.name)  # type: ignore[union-attr]
    results = measured(base, measure)
    print_table(results)
    out = Path(__file__).parent / "results" / "store_scale.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"sizes": SIZES, "median_ms": results}, indent=2))
    if context is not None:
        context.cleanup()


def print_table(results: dict[str, Row]) -> None:
    sizes = [str(s) for s in SIZES]
    growth = list(zip(sizes, sizes[1:], strict=False))
    print("| what (ms unless said) | " + " | ".join(f"{int(s):,}" for s in sizes) + " | "
          + " | ".join(f"{int(b) // int(a)}x sessions: growth" for a, b in growth) + " |")
    print("| --- |" + " ---: |" * (len(sizes) + len(growth)))
    for name in results[sizes[0]]:
        cells = [_value(results[s].get(name, float("nan"))) for s in sizes]
        cells += [_growth(results[a].get(name), results[b].get(name)) for a, b in growth]
        print(f"| {name} | " + " | ".join(cells) + " |")


def _value(value: float) -> str:
    if value != value:
        return "-"
    return f"{value:,.2f}" if value < 10 else f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _growth(a: float | None, b: float | None) -> str:
    if not a or not b or a != a or b != b:
        return "-"
    return f"{b / a:.1f}x"


if __name__ == "__main__":
    main()
