"""The family tree of a session: the session it was branched from, up to the first one, and every
branch that grew from them, drawn as a tree (from the index: one pass, no checkpoint file read)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import SessionManagerError
from ...models import is_checkpoint_id
from ...store import SessionStore
from ...store.summaries import BranchLink
from ...timefmt import short
from ..history_entries import id_time
from .drawing import SESSION_PICK, attr, count, empty, pick

MAX_DEPTH = 12  # ancestors followed up, and generations drawn down
MAX_NODES = 80
ROW, INDENT = 30, 26


@dataclass
class Node:
    session_id: str
    name: str
    n_checkpoints: int
    from_checkpoint: str | None = None  # the parent's checkpoint it was branched from
    children: list[Node] = field(default_factory=list)


def family_tree(store: SessionStore, session_id: str) -> Node | None:
    """The tree that holds ``session_id``, from its oldest known ancestor down (None: no such session)."""
    links = store.branch_links()
    parent_of = {link.session_id: link for link in links}
    root = session_id
    for _ in range(MAX_DEPTH):
        link = parent_of.get(root)
        if link is None or not _exists(store, link.parent_session):
            break
        root = link.parent_session
    try:
        meta = store.get_session(root)
    except SessionManagerError:
        return None
    children: dict[str, list[BranchLink]] = {}
    for link in links:
        children.setdefault(link.parent_session, []).append(link)
    top = Node(root, meta.name, len(store.checkpoint_ids(root)),
               parent_of[root].parent_checkpoint if root in parent_of else None)
    budget = [MAX_NODES - 1]
    _grow(top, children, 1, budget)
    return top


def render_tree(tree: Node | None, current: str | None) -> str:
    if tree is None:
        return empty("Select a session to see its branches.")
    if not tree.children:
        return empty("No branches yet: “Branch from checkpoint” starts one from the selected checkpoint.")
    rows: list[tuple[Node, int, int | None]] = []  # node, depth, row of its parent
    _flatten(tree, 0, None, rows)
    height = len(rows) * ROW + 8
    parts = []
    for row, (node, depth, parent_row) in enumerate(rows):
        cx, cy = 14 + depth * INDENT, 18 + row * ROW
        if parent_row is not None:
            px, py = 14 + (depth - 1) * INDENT, 18 + parent_row * ROW
            parts.append(f'<path class="sm-tree-edge" d="M{px},{py + 6}V{cy}H{cx - 7}"/>')
        mine = node.session_id == current
        origin = (f" · from {short(id_time(node.from_checkpoint))}"
                  if node.from_checkpoint and is_checkpoint_id(node.from_checkpoint) else "")
        label = f"{node.name} · {count(node.n_checkpoints)} checkpoints{origin}"
        parts.append(f'<g class="sm-tree-node{" sm-tree-current" if mine else ""}"'
                     f'{pick(SESSION_PICK + node.session_id)}><circle cx="{cx}" cy="{cy}" r="6"/>'
                     f'<text x="{cx + 12}" y="{cy + 5}">{attr(label)}{" (this session)" if mine else ""}</text>'
                     f'<title>open “{attr(node.name)}”</title></g>')
    return (f'<svg class="sm-tree" viewBox="0 0 1000 {height}" preserveAspectRatio="xMinYMin meet" '
            f'style="height:{height}px" role="img" '
            f'aria-label="branches of the session">{"".join(parts)}</svg>')


def _grow(node: Node, children: dict[str, list[BranchLink]], depth: int, budget: list[int]) -> None:
    if depth > MAX_DEPTH:
        return
    for link in children.get(node.session_id, []):
        if budget[0] <= 0:
            return
        budget[0] -= 1
        child = Node(link.session_id, link.name, link.n_checkpoints, link.parent_checkpoint)
        node.children.append(child)
        _grow(child, children, depth + 1, budget)


def _flatten(node: Node, depth: int, parent_row: int | None, rows: list[tuple[Node, int, int | None]]) -> None:
    row = len(rows)
    rows.append((node, depth, parent_row))
    for child in node.children:
        _flatten(child, depth + 1, row, rows)


def _exists(store: SessionStore, session_id: str) -> bool:
    try:
        store.get_session(session_id)
    except SessionManagerError:
        return False
    return True
