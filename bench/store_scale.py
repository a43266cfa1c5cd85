"""The store at 1,000 and 10,000 sessions: reading the folders (scan) against index.sqlite, side by side.

Builds each store through the public API (one checkpoint of about 2 KB of text per session,
plus one session of 10,000 checkpoints for the pickers), then times, in one run:

- list: every session (``list_sessions()``) and one page of 50;
- search with one hit;
- ``session-manager list --json`` as a whole process;
- the panel's refresh: the store calls a refresh makes (a page of sessions, the current
  session's checkpoint picker of 200, its latest state), for a small session and for one of
  10,000 checkpoints;
- the extension's setup(): a store opened afresh (the index is checked against every folder),
  the last session's latest state and the first page of sessions;
- ``revision()``, which the panel polls;
- adding a checkpoint, in a store of 10 sessions and of 10,000.

"Scan" is what the store did before the index: read every session folder (session.json, the
checkpoint and KV listings, the newest checkpoint for search) on each call; it is written
here with the store's own file readers. Medians of several runs; prints a Markdown table and
writes bench/results/store_scale.json.

Run: .venv/bin/python bench/store_scale.py [--keep DIR]   (DIR keeps the built stores between runs)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from session_manager.errors import SessionManagerError  # noqa: E402
from session_manager.models import Checkpoint, SessionMeta, new_checkpoint_id, utcnow  # noqa: E402
from session_manager.store import SessionStore  # noqa: E402
from session_manager.store.layout import MAX_SESSION_BYTES  # noqa: E402

SIZES = [1_000, 10_000]
BIG_SESSION = 10_000
PAGE = 50
PICKER = 200
WORDS = [
    "lighthouse", "keeper", "harbour", "storm", "lantern", "ship", "rope", "tide", "gull", "night",
    "morning", "bread", "letter", "door", "stair", "window", "island", "boat", "sail", "wave",
]


def text_for(i: int) -> str:
    words = [WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(330)]  # about 2 KB
    return " ".join(words)


def build(root: Path, sessions: int) -> dict[str, str]:
    """A store of ``sessions`` sessions with one checkpoint each; returns the ids the bench needs."""
    marker = root / "built.json"
    if marker.exists():
        return json.loads(marker.read_text())
    store = SessionStore(root)
    ids = {}
    started = time.monotonic()
    for i in range(sessions):
        meta = store.create_session(f"Session {i:05d} {WORDS[i % len(WORDS)]}")
        store.add_checkpoint(meta.id, Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text=text_for(i),
                                                 output_text=text_for(i) + " the end"))
        if i == sessions // 2:
            ids["needle"] = meta.id
            store.update_session(meta.id, notes="the only zeppelin in the store")
        if i % 1000 == 999:
            print(f"  {i + 1} sessions ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
    ids["last"] = meta.id
    marker.write_text(json.dumps(ids))
    store.close()
    return ids


def build_big_session(root: Path) -> str:
    marker = root / "big.json"
    if marker.exists():
        return json.loads(marker.read_text())["big"]
    store = SessionStore(root)
    meta = store.create_session("Ten thousand checkpoints")
    for i in range(BIG_SESSION):
        store.add_checkpoint(meta.id, Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text=text_for(i),
                                                 output_text=text_for(i + 1)))
    marker.write_text(json.dumps({"big": meta.id}))
    store.close()
    return meta.id


# ----- the scan: reading the folders on every call ------------------------------------------


class Scan:
    """The store without its index: each answer reads the session folders."""

    def __init__(self, root: Path) -> None:
        self.store = SessionStore(root, index=False)  # used for its file readers only
        self.layout = self.store.layout

    def list_sessions(self) -> list[tuple[SessionMeta, int, int, bool]]:
        rows = []
        for session_id in self.layout.session_ids():
            try:
                meta = self.store.files.read(self.layout.session_file(session_id), SessionMeta, MAX_SESSION_BYTES,
                                             expected_id=session_id)
            except SessionManagerError:
                continue
            rows.append((meta, len(self.layout.checkpoint_ids(session_id)),
                         sum(self.layout.kv_sizes(session_id).values()), self.layout.autosave(session_id).exists()))
        rows.sort(key=lambda row: (row[0].updated, row[0].id), reverse=True)
        return rows

    def search(self, query: str) -> list[SessionMeta]:
        words = query.casefold().split()
        hits = []
        for meta, *_ in self.list_sessions():
            latest = self.store.latest_state(meta.id)
            haystack = " ".join([meta.name, " ".join(meta.tags), meta.notes, latest.label if latest else "",
                                 latest.input_text if latest else "", latest.output_text if latest else ""]).casefold()
            if all(w in haystack for w in words):
                hits.append(meta)
        return hits

    def refresh(self, session_id: str) -> None:
        self.list_sessions()[:PAGE]
        self.store.list_checkpoints(session_id, limit=PICKER)
        self.store.latest_state(session_id)


SCAN_CLI = """
import json, sys
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from store_scale import Scan
rows = Scan(Path(sys.argv[1])).list_sessions()
print(json.dumps([{**m.model_dump(mode="json"), "checkpoints": n, "kv_bytes": kv, "has_autosave": a}
                  for m, n, kv, a in rows], indent=2, ensure_ascii=False))
"""


# ----- timing -------------------------------------------------------------------------------


def median_ms(call: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def process_ms(argv: list[str], runs: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return median_ms(lambda: subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env), runs)


REPO = Path(__file__).resolve().parents[1]
CLI = "import sys; from session_manager.cli import cli; cli(sys.argv[1:], prog_name='session-manager')"


def add_ms(root: Path, session_id: str, runs: int = 100) -> float:
    store = SessionStore(root)
    times = []
    for i in range(runs):
        cp = Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text=text_for(i), output_text=text_for(i))
        started = time.perf_counter()
        store.add_checkpoint(session_id, cp)
        times.append(time.perf_counter() - started)
    store.close()
    return statistics.median(times) * 1000


def measure(root: Path, ids: dict[str, str], big: str) -> dict[str, tuple[float, float]]:
    scan = Scan(root)
    store = SessionStore(root)
    store.list_sessions(limit=1)  # opened: the first call checks every folder against the index
    few = 5
    python = sys.executable
    rows: dict[str, tuple[float, float]] = {}
    rows["list every session"] = (median_ms(scan.list_sessions, few), median_ms(store.list_sessions, few))
    rows[f"list a page of {PAGE}"] = (median_ms(lambda: scan.list_sessions()[:PAGE], few),
                                      median_ms(lambda: store.list_sessions(limit=PAGE), 20))
    rows["search (one hit)"] = (median_ms(lambda: scan.search("zeppelin"), 3),
                                median_ms(lambda: store.search("zeppelin"), 20))
    rows["`session-manager list --json` (process)"] = (
        process_ms([python, "-c", SCAN_CLI, str(root), str(REPO / "bench")], 3),
        process_ms([python, "-c", CLI, "--data-dir", str(root), "list", "--json"], 3))
    rows["panel refresh (1 checkpoint)"] = (median_ms(lambda: scan.refresh(ids["last"]), few),
                                            median_ms(lambda: _refresh(store, ids["last"]), 20))
    rows[f"panel refresh ({BIG_SESSION:,} checkpoints)"] = (median_ms(lambda: scan.refresh(big), few),
                                                           median_ms(lambda: _refresh(store, big), 20))
    rows["extension setup() (store opened afresh)"] = (median_ms(lambda: _setup_scan(root, ids["last"]), few),
                                                        median_ms(lambda: _setup(root, ids["last"]), few))
    rows["revision() (the panel's poll)"] = (float("nan"), median_ms(store.revision, 50))
    rows["doctor (whole process, --quick)"] = (float("nan"), process_ms(
        [python, "-c", CLI, "--data-dir", str(root), "doctor", "--quick"], 1))
    store.close()
    return rows


def _refresh(store: SessionStore, session_id: str) -> None:
    store.list_sessions(limit=PAGE)
    store.checkpoint_summaries(session_id, limit=PICKER)
    store.latest_state(session_id)


def _setup(root: Path, last: str) -> None:
    store = SessionStore(root)
    store.get_session(last)
    store.latest_state(last)
    store.list_sessions(limit=PAGE)
    store.close()


def _setup_scan(root: Path, last: str) -> None:
    scan = Scan(root)
    scan.list_sessions()
    scan.store.latest_state(last)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", type=Path, default=None, help="build the stores here and keep them")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="numbers of sessions")
    args = parser.parse_args()
    SIZES[:] = args.sizes
    base_context = tempfile.TemporaryDirectory() if args.keep is None else None
    base = args.keep or Path(base_context.name)  # type: ignore[union-attr]
    results: dict[str, dict[str, tuple[float, float]]] = {}
    adds: dict[int, float] = {}
    small = base / "store-10"
    small_ids = build(small, 10)
    adds[10] = add_ms(small, small_ids["last"])
    for size in SIZES:
        root = base / f"store-{size}"
        print(f"building {size:,} sessions in {root} ...", file=sys.stderr, flush=True)
        ids = build(root, size)
        big = build_big_session(root)
        results[str(size)] = measure(root, ids, big)
        print(f"measured {size:,} sessions", file=sys.stderr, flush=True)
        adds[size] = add_ms(root, ids["last"])
    print_table(results, adds)
    out = Path(__file__).parent / "results" / "store_scale.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"median_ms": results, "add_checkpoint_ms": adds}, indent=2))
    if base_context is not None:
        base_context.cleanup()


def print_table(results: dict[str, dict[str, tuple[float, float]]], adds: dict[int, float]) -> None:
    sizes = [str(s) for s in SIZES]
    print("| operation | " + " | ".join(f"{int(s):,} sessions: scan | index | faster" for s in sizes) + " |")
    print("| --- |" + " ---: | ---: | ---: |" * len(sizes))
    for name in results[sizes[0]]:
        cells = []
        for size in sizes:
            scan, index = results[size][name]
            cells += [_ms(scan), _ms(index), f"{scan / index:.0f}x" if scan == scan else "-"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    print("| add a checkpoint | 10 sessions | " + " | ".join(f"{s:,} sessions" for s in SIZES) + " |")
    print("| --- | ---: |" + " ---: |" * len(SIZES))
    print(f"| median of 100 | {adds[10]:.2f} ms | " + " | ".join(f"{adds[s]:.2f} ms ({adds[s] / adds[10]:.2f}x)"
                                                              for s in SIZES) + " |")


def _ms(value: float) -> str:
    if value != value:
        return "-"
    return f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"


if __name__ == "__main__":
    main()
