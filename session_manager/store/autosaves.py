"""The autosaves of a session: autosave.json holds the newest, autosaves/ keeps those before it.

Each autosave is also kept as an immutable ``autosaves/<checkpoint-id>.json``, the newest
``AUTOSAVE_HISTORY`` of them: what was on screen before a restore, and what a second browser tab
wrote into the same session, is never overwritten; undo steps back through them.

An undo step writes autosave.json alone, naming the entry it brings back (``restores``): a
restart shows what the page showed, and the history gains no entry for a step.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager

from ..errors import BrokenFile, NewerFormat, NotFound
from ..models import Checkpoint, new_checkpoint_id, utcnow
from .catalog import Catalog
from .files import StoreFiles
from .index_db import IndexDB
from .layout import MAX_CHECKPOINT_BYTES, Layout, Stamps
from .scan import latest_fields, micros, newer, search_text

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
                found.append(self.get_autosave(session_id, checkpoint_id))
        newest = self.read_autosave(session_id)
        if newest is not None and newest.restores is None and newest.id not in {a.id for a in found}:
            found.insert(0, newest)
        return found

    def autosave_ids(self, session_id: str) -> list[str]:
        """Ids of the autosave history's entries, newest first; no file is opened."""
        return self.layout.autosave_ids(session_id)

    def get_autosave(self, session_id: str, checkpoint_id: str) -> Checkpoint:
        """One entry of the autosave history (NotFound when it was trimmed away)."""
        try:
            return self.files.read(self.layout.autosave_entry(session_id, checkpoint_id), Checkpoint,
                                   MAX_CHECKPOINT_BYTES, expected_id=checkpoint_id)
        except NotFound as exc:
            raise NotFound(f"session {session_id} keeps no autosave {checkpoint_id}") from exc

    def show_step(self, session_id: str, entry: Checkpoint | None) -> Checkpoint | None:
        """Undo/redo: the session's present is now ``entry`` of its history, or (None) its newest state again.

        Only autosave.json changes: a step writes a copy of ``entry`` that names it (``restores``), so a
        restart brings back what the page shows; going back to the newest state puts the newest autosave
        back in its place. An autosave.json that is in no history yet is first kept as an entry.
        Returns what autosave.json now holds.
        """
        with self._writing(session_id) as before:
            current = self.read_autosave(session_id)
            ids = self.layout.autosave_ids(session_id)
            if current is not None and current.restores is None and current.id not in ids:
                self.files.write(self.layout.autosave_entry(session_id, current.id), current)
                ids = self.layout.autosave_ids(session_id)
            if entry is not None:
                shown: Checkpoint | None = entry.model_copy(update={
                    "id": new_checkpoint_id(), "created": utcnow(), "trigger": "autosave", "kv": None,
                    "generation": None, "restores": entry.id})
            else:
                shown = next((c for cid in ids if (c := self._quiet_entry(session_id, cid)) is not None), None)
            if shown is not None:
                self.files.write(self.layout.autosave(session_id), shown)
            else:
                self.layout.autosave(session_id).unlink(missing_ok=True)
            with self._autosave_guard:
                if shown is None:
                    self._last_autosave.pop(session_id, None)
                else:
                    self._last_autosave[session_id] = shown
            latest = newer(next(iter(self.list_checkpoints(session_id, limit=1)), None), shown)
            self._catalog.changed(session_id, before, lambda conn: _present_shown(conn, session_id, shown, latest))
            return shown

    def latest_state(self, session_id: str) -> Checkpoint | None:
        """The newer of the latest checkpoint and the autosave (what auto-load brings back)."""
        latest = next(iter(self.list_checkpoints(session_id, limit=1)), None)
        autosave = self.read_autosave(session_id)
        candidates = [c for c in (latest, autosave) if c is not None]
        return max(candidates, key=lambda c: c.created) if candidates else None

    def _quiet_entry(self, session_id: str, checkpoint_id: str) -> Checkpoint | None:
        try:
            return self.get_autosave(session_id, checkpoint_id)
        except (BrokenFile, NotFound, NewerFormat):
            return None

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


def _present_shown(conn: sqlite3.Connection, session_id: str, shown: Checkpoint | None,
                   latest: Checkpoint | None) -> None:
    """The index's latest state is whatever a restart would show now (it may be older than before)."""
    conn.execute("UPDATE sessions SET has_autosave = ? WHERE id = ?", (int(shown is not None), session_id))
    IndexDB.update_session(conn, session_id, latest_fields(latest))
    IndexDB.set_text_columns(conn, session_id, {"text": search_text(latest)})


def _autosave_written(conn: sqlite3.Connection, session_id: str, snapshot: Checkpoint) -> None:
    conn.execute("UPDATE sessions SET has_autosave = 1 WHERE id = ?", (session_id,))
    maybe_latest(conn, session_id, snapshot)
