"""Which sessions an export takes (ids, a tag, a search, or all) and which of their checkpoints."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from ..choices import Choice
from ..models import Checkpoint, CheckpointMark, SessionMarks
from ..store import SessionStore, SessionSummary

# Triggers of a checkpoint written when a generation ended (textgen's chat actions included).
STOP_TRIGGERS = frozenset({"stop", "regenerate", "continue"})


def select_sessions(store: SessionStore, ids: Sequence[str] = (), tag: str | None = None,
                    search: str | None = None, everything: bool = False) -> list[SessionSummary]:
    """The sessions named by id, plus those with ``tag``, plus those matching ``search``; or all of them.

    Newest first, each once.
    """
    rows = store.list_sessions()
    if everything:
        return rows
    wanted = set(ids)
    if tag is not None:
        folded = tag.casefold()
        wanted |= {row.meta.id for row in rows if any(t.casefold() == folded for t in row.meta.tags)}
    if search is not None:
        wanted |= {row.meta.id for row in store.search(search)}
    return [row for row in rows if row.meta.id in wanted]


def choose_checkpoints(store: SessionStore, session_id: str, choose: Collection[Choice]) -> list[Checkpoint]:
    """The chosen checkpoints of a session, oldest first, each once.

    ``latest``: the newest checkpoint (the autosave when there is none); ``stops``: every one written
    when a generation ended; ``pinned``: those pinned by the user; ``all``: every checkpoint.
    """
    checkpoints = store.list_checkpoints(session_id)  # newest first
    marks = session_marks(store, session_id).marks
    picked: dict[str, Checkpoint] = {}
    if "latest" in choose:
        latest = checkpoints[0] if checkpoints else store.read_autosave(session_id)
        if latest is not None:
            picked[latest.id] = latest
    for checkpoint in checkpoints:
        if ("all" in choose or "stops" in choose and checkpoint.trigger in STOP_TRIGGERS
                or "pinned" in choose and marks.get(checkpoint.id, CheckpointMark()).pinned):
            picked[checkpoint.id] = checkpoint
    return sorted(picked.values(), key=lambda c: (c.created, c.id))


def session_marks(store: SessionStore, session_id: str) -> SessionMarks:
    """The session's pins, notes and labels (none when the store keeps no marks for it)."""
    return store.marks(session_id)


def shown_label(checkpoint: Checkpoint, marks: SessionMarks) -> str:
    """The label a person gave the checkpoint afterwards, else its own."""
    mark = marks.marks.get(checkpoint.id)
    return mark.label if mark is not None and mark.label is not None else checkpoint.label
