"""The shape of session_manager's imports: nodes, edges, floors and back edges.

A node is a top-level module or a first-level package of session_manager (store/, ui/, ...); an
edge is "some module of A imports some module of B", counted once per pair. Floor 0 imports no
other node; a node's floor is one above the highest floor it imports. A back edge is an edge in a
cycle: it runs up instead of down (there should be none).

    python scripts/import_graph.py [PACKAGE_DIR] [--edges]
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = "session_manager"


def node_of(module: str) -> str:
    """The node a dotted module belongs to: session_manager.store.files -> store."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(package_dir: Path, path: Path) -> str:
    parts = [ROOT, *path.relative_to(package_dir).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, module: str) -> set[str]:
    """Every session_manager module a file imports, at any place in it (lazy imports count too)."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.update(f"{target}.{a.name}" if not node.module else target for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {name for name in found if name == ROOT or name.startswith(ROOT + ".")}


def build(package_dir: Path) -> tuple[set[str], dict[str, set[str]]]:
    paths = sorted(package_dir.rglob("*.py"))
    nodes = {node_of(module_name(package_dir, path)) for path in paths} - {"__init__"}
    edges: dict[str, set[str]] = defaultdict(set)
    for path in paths:
        module = module_name(package_dir, path)
        source = node_of(module)
        if source == "__init__":
            continue  # the package's own docstring and version
        for target in imported_modules(path, module):
            target_node = node_of(target)
            if target_node in nodes and target_node != source:  # `from . import __version__` is no node
                edges[source].add(target_node)
    return nodes, edges


def back_edges(nodes: set[str], edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Edges that close a cycle, found by a depth-first walk."""
    state: dict[str, int] = {}
    found: list[tuple[str, str]] = []

    def walk(node: str) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                found.append((node, target))
            elif target not in state:
                walk(target)
        state[node] = 2

    for node in sorted(nodes):
        if node not in state:
            walk(node)
    return found


def floors(nodes: set[str], edges: dict[str, set[str]], cut: set[tuple[str, str]]) -> dict[str, int]:
    floor: dict[str, int] = {}

    def height(node: str) -> int:
        if node not in floor:
            floor[node] = 0  # guards a cycle the cut missed
            below = [height(t) for t in edges.get(node, ()) if (node, t) not in cut]
            floor[node] = 1 + max(below) if below else 0
        return floor[node]

    for node in nodes:
        height(node)
    return floor


def largest(package_dir: Path, classes: bool, limit: int) -> tuple[list[tuple[int, str]], int]:
    """The three largest classes (or functions) by lines, and how many are over ``limit`` lines."""
    kinds = (ast.ClassDef,) if classes else (ast.FunctionDef, ast.AsyncFunctionDef)
    sizes: list[tuple[int, str]] = []
    for path in sorted(package_dir.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, kinds):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                sizes.append((lines, f"{path.relative_to(package_dir.parent)}:{node.name}"))
    sizes.sort(reverse=True)
    return sizes[:3], sum(1 for lines, _ in sizes if lines > limit)


def main(argv: list[str]) -> None:
    args = [a for a in argv if not a.startswith("--")]
    package_dir = Path(args[0] if args else Path(__file__).resolve().parent.parent / ROOT)
    nodes, edges = build(package_dir)
    back = back_edges(nodes, edges)
    floor = floors(nodes, edges, set(back))
    print(f"nodes {len(nodes)}  edges {sum(len(t) for t in edges.values())}  "
          f"floors {max(floor.values()) + 1}  back edges {len(back)}")
    for level in range(max(floor.values()), -1, -1):
        print(f"  floor {level:2}: {' '.join(sorted(n for n in nodes if floor[n] == level))}")
    for source, target in back:
        print(f"  back edge: {source} -> {target}")
    for classes, label, limit in ((True, "classes", 200), (False, "functions", 60)):
        top, over = largest(package_dir, classes, limit)
        print(f"  largest {label}: " + ", ".join(f"{name} {lines}" for lines, name in top)
              + f"; over {limit} lines: {over}")
    if "--edges" in argv:
        for source in sorted(edges):
            print(f"  {source} -> {' '.join(sorted(edges[source]))}")


if __name__ == "__main__":
    main(sys.argv[1:])
