"""A session's history as a page steps through it: its checkpoints and the autosaves in between, in time order.

Entries are named by the values the panel's pickers use: a checkpoint by its id, an entry of the
autosave history by ``autosave:<id>``, the newest autosave by ``autosave``; the diff also knows
``page`` (what the page shows now). Ids sort by time, so the order needs no file opened.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal, NamedTuple

from ..errors import SessionManagerError
from ..models import Checkpoint, is_checkpoint_id
from ..store import SessionStore

AUTOSAVE_CHOICE = "autosave"  # the newest autosave (autosave.json)
AUTOSAVE_PREFIX = "autosave:"  # an entry of the autosave history: autosave:<id>
PAGE_CHOICE = "page"  # what the page shows now (diff only)

Kind = Literal["checkpoint", "autosave"]


class Entry(NamedTuple):
    """One point of a session's history."""

    id: str
    kind: Kind

    @property
    def choice(self) -> str:
        return self.id if self.kind == "checkpoint" else AUTOSAVE_PREFIX + self.id

    @property
    def created(self) -> datetime:
        return id_time(self.id)


def page_history(store: SessionStore, session_id: str) -> list[Entry]:
    """Every checkpoint and every kept autosave of the session, oldest first (undo steps through these)."""
    entries = [Entry(cid, "checkpoint") for cid in store.checkpoint_ids(session_id)]
    entries += [Entry(cid, "autosave") for cid in store.autosave_ids(session_id)]
    newest = store.read_autosave(session_id)
    if newest is not None and newest.restores is None and newest.id not in {e.id for e in entries}:
        entries.append(Entry(newest.id, "autosave"))  # a store from before the autosave history
    return sorted(entries, key=lambda entry: entry.id)


def autosave_choice(checkpoint_id: str) -> str:
    return AUTOSAVE_PREFIX + checkpoint_id


def entry_of(choice: str | None) -> Entry | None:
    """The entry a choice names explicitly (``autosave`` and ``page`` name none: they move)."""
    if not choice:
        return None
    if choice.startswith(AUTOSAVE_PREFIX):
        checkpoint_id = choice[len(AUTOSAVE_PREFIX):]
        return Entry(checkpoint_id, "autosave") if is_checkpoint_id(checkpoint_id) else None
    return Entry(choice, "checkpoint") if is_checkpoint_id(choice) else None


def load_entry(store: SessionStore, session_id: str | None, choice: str | None) -> Checkpoint | None:
    """The saved state a choice names, or None (no session, an unknown or unreadable entry)."""
    if not session_id or not choice:
        return None
    try:
        if choice == AUTOSAVE_CHOICE:
            return store.read_autosave(session_id)
        entry = entry_of(choice)
        if entry is None:
            return None
        if entry.kind == "autosave":
            return store.get_autosave(session_id, entry.id)
        return store.get_checkpoint(session_id, entry.id)
    except SessionManagerError:
        return None


def id_time(checkpoint_id: str) -> datetime:
    """When a checkpoint or autosave was made, read from its id (to the millisecond)."""
    stamp = checkpoint_id.split("Z", 1)[0]
    return datetime.strptime(stamp[:15], "%Y%m%dT%H%M%S").replace(
        microsecond=int(stamp[15:18] or 0) * 1000, tzinfo=timezone.utc)
