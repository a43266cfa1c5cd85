"""Cost of adding a checkpoint (and writing the autosave) with 10 vs 10,000 checkpoints in a session,
of the checkpoint picker's page of 200 (from the index, and read from the files), and of what a user
waits for after "Save checkpoint": the save and the panel's fresh state for that browser tab.

Prints a table with the ratio measured side by side in one run and writes bench/results/store_scaling.json.
Run: .venv/bin/python bench/store_scaling.py
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from session_manager.app.workspace import Workspace  # noqa: E402
from session_manager.models import Checkpoint, ModelInfo, new_checkpoint_id, utcnow  # noqa: E402
from session_manager.recording.recorder import Recorder  # noqa: E402
from session_manager.settings import SettingsManager, load_shipped  # noqa: E402
from session_manager.store import SessionStore  # noqa: E402

SIZES = (10, 10_000)
SAMPLES = 200
TEXT = "The lighthouse keeper opened the door. " * 100  # ~4 KB of text per checkpoint


def checkpoint(i: int) -> Checkpoint:
    return Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text=TEXT, output_text=TEXT + str(i),
                      params={"temperature": 0.7, "top_p": 0.9, "seed": i})


def measure(store: SessionStore, session_id: str) -> dict[str, float]:
    adds, autosaves = [], []
    for i in range(SAMPLES):
        cp = checkpoint(i)
        start = time.perf_counter()
        store.add_checkpoint(session_id, cp)
        adds.append(time.perf_counter() - start)
        snap = cp.model_copy(update={"id": new_checkpoint_id(), "trigger": "autosave", "output_text": f"draft {i}"})
        start = time.perf_counter()
        store.write_autosave(session_id, snap)
        autosaves.append(time.perf_counter() - start)
    pages, files = [], []
    for _ in range(20):
        start = time.perf_counter()
        store.checkpoint_summaries(session_id, limit=200)
        pages.append(time.perf_counter() - start)
        start = time.perf_counter()
        store.list_checkpoints(session_id, limit=200)
        files.append(time.perf_counter() - start)
    clicks = []
    workspace = _workspace(store, session_id)
    for i in range(50):
        workspace.page("tab", "text").update(by_user=True, input_text=f"{TEXT} typed {i}")
        start = time.perf_counter()
        chosen = workspace.save("tab", "", "text")
        workspace.state("tab", "text")
        workspace.details("tab", chosen)
        clicks.append(time.perf_counter() - start)
    return {"add_ms": statistics.median(adds) * 1000, "autosave_ms": statistics.median(autosaves) * 1000,
            "summaries_ms": statistics.median(pages) * 1000, "files_ms": statistics.median(files) * 1000,
            "save_click_ms": statistics.median(clicks) * 1000}


class _NoEngine:
    """A host without a model: the click's cost is the store's and the panel's, not an engine's."""

    def model_info(self) -> ModelInfo:
        return ModelInfo(name="bench.gguf")

    def is_generating(self) -> bool:
        return False

    def kv_backend(self) -> None:
        return None

    def no_kv_reason(self) -> str:
        return ""

    def tokenize(self, text: str) -> None:
        return None

    def load_model(self, model: ModelInfo) -> str:
        return ""

    def page_restored(self, page: object, checkpoint: object) -> None:
        pass

    def session_opened(self, page: object) -> None:
        pass

    def saved_work_folder(self) -> None:
        return None  # no host folder of saved work to offer for import

    def loadable_texts(self, view: str, link: object) -> set[str]:
        return set()


def _workspace(store: SessionStore, session_id: str) -> Workspace:
    settings = SettingsManager(load_shipped())
    settings.attach_store(store.root)
    workspace = Workspace(Recorder(store, settings, _NoEngine()))
    workspace.recorder.select_session(workspace.page("tab", "text"), session_id)
    return workspace


def main() -> None:
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES:
            store = SessionStore(Path(tmp) / f"store-{size}")
            meta = store.create_session(f"{size} checkpoints")
            print(f"filling a session with {size} checkpoints...", file=sys.stderr, flush=True)
            for i in range(size):
                store.add_checkpoint(meta.id, checkpoint(i))
            rows[size] = measure(store, meta.id)
    small, big = rows[SIZES[0]], rows[SIZES[1]]
    print("| operation | 10 checkpoints | 10,000 checkpoints | ratio |")
    print("| --- | --- | --- | --- |")
    for key, name in (("add_ms", "add a checkpoint"), ("autosave_ms", "write the autosave"),
                      ("summaries_ms", "picker page of 200 (index)"), ("files_ms", "picker page of 200 (files)"),
                      ("save_click_ms", "Save checkpoint click, with the panel's refresh")):
        print(f"| {name} | {small[key]:.2f} ms | {big[key]:.2f} ms | {big[key] / small[key]:.2f}x |")
    out = Path(__file__).parent / "results" / "store_scaling.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"samples": SAMPLES, "median_ms": {str(k): v for k, v in rows.items()}}, indent=2))


if __name__ == "__main__":
    main()
