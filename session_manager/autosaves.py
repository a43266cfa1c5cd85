"""The autosaves of a session: autosave.json holds the newest, autosaves/ keeps those before it.

Each autosave is also kept as an immutable ``autosaves/<checkpoint-id>.json``, the newest
``AUTOSAVE_HISTORY`` of them: what was on screen before a restore, and what a second browser tab
wrote into the same session, is never overwritten; undo steps back through them.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager

from .catalog import Catalog
from .errors import BrokenFile, NewerFormat, NotFound
from .files import StoreFiles
from .index import IndexDB
from .layout import MAX_CHECKPOINT_BYTES, Layout, Stamps
from .models import Checkpoint
from .scan import latest_fields, micros, search_text

AUTOSAVE_HISTORY = 100


class AutosaveStore:
    """Mixed into SessionStore (through CheckpointStore)."""

    layout: Layout
    files: StoreFiles
    _catalog: Catalog
    _writing: Callable[[str], AbstractContextManager[Stamps]]
    list_checkpoints: Callable[..., list[Checkpoint]]

    def _autosaves_init(self) -> None:
        self._last_autosave: dict[str, Checkpoint] = {}
        self._autosave_guard = threading.Lock()

    def write_autosave(self, session_id: str, snapshot: Checkpoint) -> bool:
        """A new autosave, kept in the history too; returns False (and writes nothing) when unchanged."""
        with self._writing(session_id) as before:
            with self._autosave_guard:
                previous = self._last_autosave.get(session_id)
            if snapshot.same_content(previous or self.read_autosave(session_id)):
                return False
            self.files.write(self.layout.autosave_entry(session_id, snapshot.id), snapshot)
            self.files.write(self.layout.autosave(session_id), snapshot)
            self._trim_history(session_id)
            with self._autosave_guard:
                self._last_autosave[session_id] = snapshot
            self._catalog.changed(session_id, before, lambda conn: _autosave_written(conn, session_id, snapshot))
            return True

    def read_autosave(self, session_id: str) -> Checkpoint | None:
        """The newest autosave."""
        try:
            return self.files.read(self.layout.autosave(session_id), Checkpoint, MAX_CHECKPOINT_BYTES)
        except (NotFound, BrokenFile, NewerFormat):
            return None

    def autosaves(self, session_id: str, limit: int | None = None) -> list[Checkpoint]:
        """The autosave history, newest first (a store from before the history holds the newest only)."""
        found = []
        for checkpoint_id in self.layout.autosave_ids(session_id)[:limit]:
            with contextlib.suppress(BrokenFile, NotFound, NewerFormat):
                found.append(self.files.read(self.layout.autosave_entry(session_id, checkpoint_id), Checkpoint,
                                             MAX_CHECKPOINT_BYTES, expected_id=checkpoint_id))
        newest = self.read_autosave(session_id)
        if newest is not None and newest.id not in {a.id for a in found}:
            found.insert(0, newest)
        return found

    def latest_state(self, session_id: str) -> Checkpoint | None:
        """The newer of the latest checkpoint and the autosave (what auto-load brings back)."""
        latest = next(iter(self.list_checkpoints(session_id, limit=1)), None)
        autosave = self.read_autosave(session_id)
        candidates = [c for c in (latest, autosave) if c is not None]
        return max(candidates, key=lambda c: c.created) if candidates else None

    def _trim_history(self, session_id: str) -> None:
        for old in self.layout.autosave_ids(session_id)[AUTOSAVE_HISTORY:]:
            with contextlib.suppress(OSError):
                self.layout.autosave_entry(session_id, old).unlink()

    def _forget(self, session_id: str) -> None:
        with self._autosave_guard:
            self._last_autosave.pop(session_id, None)


def maybe_latest(conn: sqlite3.Connection, session_id: str, state: Checkpoint) -> None:
    """The index's "latest state" of a session is ``state`` when nothing newer is known."""
    found = conn.execute("SELECT latest_created FROM sessions WHERE id = ?", (session_id,)).fetchone()
    if found is not None and (found[0] is None or micros(state.created) >= found[0]):
        IndexDB.update_session(conn, session_id, latest_fields(state))
        IndexDB.set_text_columns(conn, session_id, {"text": search_text(state)})


def _autosave_written(conn: sqlite3.Connection, session_id: str, snapshot: Checkpoint) -> None:
    conn.execute("UPDATE sessions SET has_autosave = 1 WHERE id = ?", (session_id,))
    maybe_latest(conn, session_id, snapshot)
