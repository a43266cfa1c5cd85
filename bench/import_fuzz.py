"""A long run of the hostile-file generator (tests/formats/hostile_gen.py) against every importer.

The test suite runs a few examples per format; this runs many (default 500 per format) and prints,
per format, how many files were tried and how many failed the rule (one line per source, never a
Python error's words, and a store that reads back whole). The first failure of each format is
printed with the file that caused it (hypothesis shrinks it first).

Run: .venv/bin/python bench/import_fuzz.py [--examples 500] [--formats sillytavern,textgen]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.formats.hostile_gen import FORMATS, check_import, hostile_file  # noqa: E402


def fuzz(fmt: str, examples: int) -> tuple[int, str | None, float]:
    tried = [0]
    started = time.monotonic()

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data: st.DataObject) -> None:
        name, content = data.draw(hostile_file(fmt))
        tried[0] += 1
        work = Path(tempfile.mkdtemp(prefix="import-fuzz-"))
        try:
            (work / "in").mkdir()
            check_import(work / "store", work / "in", name, content)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    try:
        run()
    except Exception as exc:  # noqa: BLE001 - the failure is the result to print
        return tried[0], f"{type(exc).__name__}: {str(exc)[:500]}", time.monotonic() - started
    return tried[0], None, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--formats", default=",".join(sorted(FORMATS)))
    options = parser.parse_args()
    print("| format | files tried | seconds | result |")
    print("|---|---:|---:|---|")
    failed = False
    for fmt in options.formats.split(","):
        tried, failure, seconds = fuzz(fmt, options.examples)
        failed = failed or failure is not None
        print(f"| {fmt} | {tried} | {seconds:.0f} | {'ok' if failure is None else failure.splitlines()[0]} |")
        if failure:
            print(failure, file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
