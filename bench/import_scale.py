"""`session-manager import` of large training files, timed and measured as the process a user runs.

For each size, writes a prompt/completion JSONL file (and a ShareGPT one) of that many samples,
imports it into a fresh store with the CLI as a process (``--json``, so progress lines go to
stderr), and reports the wall time, sessions per second and the peak resident memory of the
process (``resource.getrusage(RUSAGE_CHILDREN)``: the largest child so far, so each import runs in
its own measuring process). Also imports one 120 MB single string and a file just over the line
limit, which must be refused without the memory of the whole file parsed, and this tool's own
exports in their worst shapes (export_shapes.py): a .json export of the most checkpoints a session
may bring, one at its size limit, a .zip of the most entries, and one checkpoint at the byte limit.

Run: .venv/bin/python bench/import_scale.py [--sizes 1000,10000,100000] [--keep DIR] [--exports-only]
Targets (issue 25): 100,000 samples in under 2 minutes on 2 cores; no import above 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import export_shapes  # noqa: E402 - its limits are those of the code in ROOT

_MEASURE = """
import resource, subprocess, sys, time
started = time.monotonic()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
seconds = time.monotonic() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
progress = sum(1 for line in done.stderr.splitlines() if line.startswith("Importing"))
last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr.strip()[-200:]
print(f"{seconds:.3f} {peak:.1f} {done.returncode} {progress}", last[:200].replace(chr(10), " "))
"""


def write_samples(path: Path, count: int, shape: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for n in range(count):
            doc: dict[str, Any]
            if shape == "completion":
                doc = {"prompt": f"Question {n}: what comes after {n}?", "completion": f" {n + 1}, of course."}
            else:
                doc = {"conversations": [{"from": "human", "value": f"Say {n}"}, {"from": "gpt", "value": f"{n}!"}]}
            out.write(json.dumps(doc) + "\n")


def measure(args: list[str]) -> tuple[float, float, int, int, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    line = subprocess.run([sys.executable, "-c", _MEASURE, *args], capture_output=True, text=True, env=env,
                          check=True).stdout.strip()
    numbers, _, last = line.partition(" ")
    seconds, peak, code, progress = line.split(" ")[:4]
    return float(seconds), float(peak), int(code), int(progress), line.split(" ", 4)[4] if line.count(" ") >= 4 else ""


def cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from session_manager.cli import main; main()", *args]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--exports-only", action="store_true", help="only the rows of this tool's own exports")
    options = parser.parse_args()
    work = options.keep or Path(tempfile.mkdtemp(prefix="import-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = export_rows(work)
    if not options.exports_only:
        rows += training_rows(work, [int(s) for s in options.sizes.split(",")])
    print("| import | seconds | sessions/s | peak RSS MB | exit | progress lines |")
    print("|---|---:|---:|---:|---:|---:|")
    for what, seconds, rate, peak, code, progress in rows:
        print(f"| {what} | {seconds:.1f} | {rate:,.0f} | {peak:.0f} | {code} | {progress} |")
    if options.keep is None:
        print(f"(files in {work})")


Row = tuple[str, float, float, float, int, int]


def export_rows(work: Path) -> list[Row]:
    """This tool's own .json and .zip exports in the shapes that cost an import the most (export_shapes.py)."""
    rows: list[Row] = []
    for what, name, write in export_shapes.SHAPES:
        data = work / name
        if not data.exists():
            write(data)
        seconds, peak, code, progress, last = measure(cli("--data-dir", str(work / f"store-{name}"), "import",
                                                          str(data), "--json"))
        rows.append((f"{what} ({data.stat().st_size / 1e6:.1f} MB)", seconds, 0.0, peak, code, progress))
    return rows


def training_rows(work: Path, sizes: list[int]) -> list[Row]:
    rows: list[Row] = []
    for size in sizes:
        for shape in ("completion", "sharegpt"):
            data = work / f"{shape}-{size}.jsonl"
            if not data.exists():
                write_samples(data, size, shape)
            store = work / f"store-{shape}-{size}"
            seconds, peak, code, progress, last = measure(cli("--data-dir", str(store), "import", str(data),
                                                              "--json"))
            rows.append((f"{size:,} {shape} samples ({data.stat().st_size / 1e6:.1f} MB)", seconds,
                         size / seconds, peak, code, progress))
    huge = work / "one-string.json"
    if not huge.exists():
        huge.write_text(json.dumps({"internal": [["x" * 120_000_000, "y"]], "visible": [["x", "y"]]}))
    seconds, peak, code, progress, _ = measure(cli("--data-dir", str(work / "store-huge"), "import", str(huge),
                                                   "--json"))
    rows.append(("one 120 MB string (textgen chat)", seconds, 0.0, peak, code, progress))
    return rows


if __name__ == "__main__":
    main()
