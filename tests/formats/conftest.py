"""Fixtures for the format tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def user_data(tmp_path: Path) -> Path:
    folder = tmp_path / "text-generation-webui" / "user_data"
    folder.mkdir(parents=True)
    return folder
