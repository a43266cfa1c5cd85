"""Hostile files generated per format: every one gets a one-line answer and leaves a store that reads back."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .hostile_gen import FORMATS, check_import, hostile_file


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_generated_hostile_files_of_each_format(fmt: str) -> None:
    @settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data: st.DataObject) -> None:
        name, content = data.draw(hostile_file(fmt))
        work = Path(tempfile.mkdtemp(prefix="hostile-"))
        try:
            (work / "in").mkdir()
            check_import(work / "store", work / "in", name, content)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    run()
