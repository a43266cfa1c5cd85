"""The marks of a session's checkpoints: pins, notes and renamed labels, all in one marks.json."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from ..errors import BrokenFile, NewerFormat, NotFound
from ..models import Checkpoint, CheckpointMark, SessionMarks
from .core import StoreCore
from .index_db import IndexDB
from .layout import MAX_MARKS_BYTES
from .scan import MarkRow, mark_rows, marks_text

MAX_NOTE_CHARS = 100_000
MAX_LABEL_CHARS = 200


class Marks:
    """Pins, notes and labels; ``get_checkpoint`` proves a checkpoint exists before it is marked."""

    def __init__(self, core: StoreCore, get_checkpoint: Callable[[str, str], Checkpoint]) -> None:
        self._core = core
        self._get_checkpoint = get_checkpoint

    def marks(self, session_id: str) -> SessionMarks:
        """Pins, notes and renamed labels of a session's checkpoints (empty when there are none)."""
        try:
            return self._core.files.read(self._core.layout.marks(session_id), SessionMarks, MAX_MARKS_BYTES)
        except (NotFound, BrokenFile, NewerFormat):
            return SessionMarks()

    def set_mark(self, session_id: str, checkpoint_id: str, *, pinned: bool | None = None, note: str | None = None,
                 label: str | None = None) -> CheckpointMark:
        """Pin, annotate or relabel a checkpoint (None leaves a field as it is; label "" restores its own)."""
        core = self._core
        with core.writing(session_id) as before:
            self._get_checkpoint(session_id, checkpoint_id)
            marks = self.for_writing(session_id)
            mark = marks.marks.get(checkpoint_id, CheckpointMark())
            changes: dict[str, object] = {}
            if pinned is not None:
                changes["pinned"] = bool(pinned)
            if note is not None:
                changes["note"] = str(note)[:MAX_NOTE_CHARS]
            if label is not None:
                changes["label"] = _one_line(label)[:MAX_LABEL_CHARS] or None
            mark = CheckpointMark.model_validate({**mark.model_dump(), **changes})
            if mark == CheckpointMark():
                marks.marks.pop(checkpoint_id, None)
            else:
                marks.marks[checkpoint_id] = mark
            core.files.write(core.layout.marks(session_id), marks)
            rows, text = mark_rows(marks), marks_text(marks)
            core.catalog.changed(session_id, before, lambda conn: _marks_written(conn, session_id, rows, text))
            return mark

    def for_writing(self, session_id: str) -> SessionMarks:
        """The marks as they are on disk; a newer format is refused rather than overwritten."""
        try:
            return self._core.files.read(self._core.layout.marks(session_id), SessionMarks, MAX_MARKS_BYTES)
        except (NotFound, BrokenFile):
            return SessionMarks()

    def pinned(self, session_id: str) -> set[str]:
        """Ids of the pinned checkpoints (read under the lock by whoever removes files)."""
        return {cid for cid, mark in self.for_writing(session_id).marks.items() if mark.pinned}

    def forget(self, session_id: str, checkpoint_id: str) -> None:
        """A checkpoint was deleted: its mark goes too (the caller holds the lock)."""
        marks = self.for_writing(session_id)
        if marks.marks.pop(checkpoint_id, None) is not None:
            self._core.files.write(self._core.layout.marks(session_id), marks)


def _marks_written(conn: sqlite3.Connection, session_id: str, rows: dict[str, MarkRow], text: str) -> None:
    IndexDB.put_marks(conn, session_id, rows)
    IndexDB.set_text_columns(conn, session_id, {"marks": text})


def _one_line(text: str) -> str:
    return " ".join("".join(" " if ch in "\r\n\t\v\f\x00" else ch for ch in str(text)).split())
