"""The settings' defaults are written down three times for three readers: the model (the one source),
the shipped settings.json (textgen reads it), and the README's table. They must agree."""

from __future__ import annotations

import importlib.util
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


def test_the_architecture_page_shows_the_floors_the_code_has() -> None:
    """docs/architecture.md names each module and package on its floor, and the graph's counts; the code decides."""
    root = README.parent
    spec = importlib.util.spec_from_file_location("import_graph", root / "scripts" / "import_graph.py")
    assert spec is not None and spec.loader is not None
    graph = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(graph)
    nodes, edges = graph.build(root / "session_manager")
    back = graph.back_edges(nodes, edges)
    floor = graph.floors(nodes, edges, set(back))
    page = (root / "docs" / "architecture.md").read_text(encoding="utf-8")
    written = {name.removesuffix("/").removesuffix(".py"): int(level)
               for level, names in re.findall(r"^floor (\d+)  (.+)$", page, re.M) for name in names.split()}
    assert written == floor
    counts = f"{len(nodes)} nodes, {sum(len(t) for t in edges.values())} edges, {max(floor.values()) + 1} floors"
    assert f"{counts}, {len(back)} back edges" in " ".join(page.split())
    assert back == []
