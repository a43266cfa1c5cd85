"""The settings' defaults are written down three times for three readers: the model (the one source),
the shipped settings.json (textgen reads it), and the README's table. They must agree."""

from __future__ import annotations

import json
import re
from pathlib import Path

from session_manager.settings import SHIPPED_SETTINGS, Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_settings_json_ships_the_models_defaults() -> None:
    assert json.loads(SHIPPED_SETTINGS.read_text(encoding="utf-8")) == Settings().model_dump()


def test_the_readme_lists_every_setting_with_its_default() -> None:
    rows = dict(re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", README.read_text(encoding="utf-8"), re.M))
    defaults = Settings().model_dump()
    assert set(rows) == set(defaults)
    for name, default in defaults.items():
        assert json.loads(rows[name]) == default, name
