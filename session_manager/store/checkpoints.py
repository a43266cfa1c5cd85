"""The checkpoint half of SessionStore: checkpoints, the rolling autosave, marks and KV blobs."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from ..errors import BrokenFile, NewerFormat, NotFound, StorageError
from ..models import Checkpoint, CheckpointMark, SessionMarks, SessionMeta, utcnow
from . import queries
from .autosaves import AutosaveStore, maybe_latest
from .catalog import Catalog
from .files import StoreFiles
from .index_db import IndexDB
from .layout import MAX_CHECKPOINT_BYTES, MAX_MARKS_BYTES, Layout, Stamps, is_real_dir
from .locking import StoreLock
from .scan import MarkRow, checkpoint_row, mark_rows, marks_text, meta_fields
from .summaries import CheckpointSummary, KVBlobInfo

MAX_NOTE_CHARS = 100_000
MAX_LABEL_CHARS = 200


class CheckpointStore(AutosaveStore):
    """Everything inside one session folder but session.json and the autosaves. Mixed into SessionStore."""

    layout: Layout
    files: StoreFiles
    _lock: StoreLock
    _catalog: Catalog
    _writing: Callable[[str], AbstractContextManager[Stamps]]
    get_session: Callable[[str], SessionMeta]

    def __init__(self) -> None:
        self._autosaves_init()

    # ----- checkpoints ----------------------------------------------------------------------

    def add_checkpoint(self, session_id: str, checkpoint: Checkpoint) -> Checkpoint:
        """Write a new checkpoint; on any failure nothing of it stays on disk (not even its KV blob)."""
        path = self.layout.checkpoint(session_id, checkpoint.id)
        with self._writing(session_id) as before:
            meta = self.get_session(session_id)  # read under the lock: a rename is never undone
            if os.path.lexists(path):
                raise StorageError(f"checkpoint {checkpoint.id} already exists; checkpoints are never overwritten")
            _writable_folder(self.files, path.parent)
            meta = meta.model_copy(update={"updated": utcnow(), "mode": checkpoint.mode})
            try:
                self.files.write(path, checkpoint)
                self.files.write(self.layout.session_file(session_id), meta)
            except BaseException:
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)
                if checkpoint.kv is not None:
                    with contextlib.suppress(OSError, ValueError):
                        self.kv_path(session_id, checkpoint.id).unlink(missing_ok=True)
                raise
            sizes = self.layout.kv_sizes(session_id) if checkpoint.kv is not None else None
            self._catalog.changed(session_id, before, lambda conn: _checkpoint_added(conn, meta, checkpoint, sizes),
                                  rows=[checkpoint_row(checkpoint)], kv_rescanned=sizes is not None)
        return checkpoint

    def checkpoint_ids(self, session_id: str) -> list[str]:
        """Newest first; ids sort by time, so no file is opened."""
        return self.layout.checkpoint_ids(session_id)

    def list_checkpoints(self, session_id: str, limit: int | None = None) -> list[Checkpoint]:
        """Newest first, read from their files; a broken file is set aside and skipped."""
        result = []
        for checkpoint_id in self.checkpoint_ids(session_id):
            if limit is not None and len(result) >= limit:
                break
            with contextlib.suppress(BrokenFile, NotFound, NewerFormat):
                result.append(self.get_checkpoint(session_id, checkpoint_id))
        return result

    def get_checkpoint(self, session_id: str, checkpoint_id: str) -> Checkpoint:
        path = self.layout.checkpoint(session_id, checkpoint_id)
        try:
            if not self.layout.has_session(session_id):
                raise NotFound(path)
            return self.files.read(path, Checkpoint, MAX_CHECKPOINT_BYTES, expected_id=checkpoint_id)
        except NotFound as exc:
            raise NotFound(f"session {session_id} has no checkpoint {checkpoint_id}") from exc

    def delete_checkpoint(self, session_id: str, checkpoint_id: str) -> None:
        with self._writing(session_id):
            checkpoint = self.get_checkpoint(session_id, checkpoint_id)
            self.layout.checkpoint(session_id, checkpoint.id).unlink()
            self.kv_path(session_id, checkpoint_id).unlink(missing_ok=True)
            marks = self._marks_for_writing(session_id)
            if marks.marks.pop(checkpoint_id, None) is not None:
                self.files.write(self.layout.marks(session_id), marks)
            self._catalog.reread(session_id)

    def checkpoint_summaries(self, session_id: str, limit: int | None = None,
                             offset: int = 0) -> list[CheckpointSummary]:
        """Light rows for pickers and timelines, newest first, from the index (no checkpoint file is read
        unless it is new since the last call). The marks' labels, pins and notes are applied."""
        self.layout.session(session_id)
        if not self.layout.has_session(session_id):
            return []
        db = self._catalog.checkpoint_rows(session_id)
        return queries.checkpoint_page(db, session_id, limit, offset)

    # ----- marks ----------------------------------------------------------------------------

    def marks(self, session_id: str) -> SessionMarks:
        """Pins, notes and renamed labels of a session's checkpoints (empty when there are none)."""
        try:
            return self.files.read(self.layout.marks(session_id), SessionMarks, MAX_MARKS_BYTES)
        except (NotFound, BrokenFile, NewerFormat):
            return SessionMarks()

    def set_mark(self, session_id: str, checkpoint_id: str, *, pinned: bool | None = None, note: str | None = None,
                 label: str | None = None) -> CheckpointMark:
        """Pin, annotate or relabel a checkpoint (None leaves a field as it is; label "" restores its own)."""
        with self._writing(session_id) as before:
            self.get_checkpoint(session_id, checkpoint_id)
            marks = self._marks_for_writing(session_id)
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
            self.files.write(self.layout.marks(session_id), marks)
            rows, text = mark_rows(marks), marks_text(marks)
            self._catalog.changed(session_id, before, lambda conn: _marks_written(conn, session_id, rows, text))
            return mark

    # ----- KV blobs -------------------------------------------------------------------------

    def kv_path(self, session_id: str, checkpoint_id: str) -> Path:
        return self.layout.kv(session_id, checkpoint_id)

    def has_kv(self, session_id: str, checkpoint: Checkpoint) -> bool:
        """The checkpoint names a KV snapshot and its blob is still on disk (the budget may evict it)."""
        return checkpoint.kv is not None and _is_regular_file(self.kv_path(session_id, checkpoint.id))

    def kv_bytes(self, session_id: str) -> int:
        return sum(self.layout.kv_sizes(session_id).values())

    def kv_blobs(self) -> list[KVBlobInfo]:
        """Every KV blob in the store, oldest first (ids sort by time)."""
        return queries.blobs(self._catalog.swept(), self.layout)

    def evict_kv(self, budget_bytes: int, keep: set[str] | None = None) -> list[KVBlobInfo]:
        """Delete the oldest KV blobs until the total fits ``budget_bytes``. Text is never touched, and
        neither are the blobs of pinned checkpoints or of the checkpoint ids in ``keep``."""
        keep = keep or set()
        evicted: list[KVBlobInfo] = []
        with self._lock.hold():
            db = self._catalog.swept()
            blobs, pinned = queries.blobs(db, self.layout), queries.pinned_checkpoints(db)
            total = sum(blob.size for blob in blobs)
            befores: dict[str, Stamps] = {}
            for blob in blobs:
                if total <= budget_bytes:
                    break
                if blob.checkpoint_id in keep or (blob.session_id, blob.checkpoint_id) in pinned:
                    continue
                befores.setdefault(blob.session_id, self.layout.stamps(blob.session_id))
                if _remove_regular_file(blob.path):
                    total -= blob.size
                    evicted.append(blob)
            for session_id, before in befores.items():
                sizes = self.layout.kv_sizes(session_id)
                self._catalog.changed(session_id, before, lambda conn, sid=session_id, kv=sizes:
                                      IndexDB.put_blobs(conn, sid, kv), kv_rescanned=True)
        return evicted

    def remove_kv(self, session_id: str, checkpoint_ids: list[str]) -> int:
        """Delete these checkpoints' KV blobs (their text stays); pinned ones are kept. How many went."""
        with self._writing(session_id) as before:
            pinned = {cid for cid, mark in self._marks_for_writing(session_id).marks.items() if mark.pinned}
            removed = sum(_remove_regular_file(self.kv_path(session_id, cid)) for cid in checkpoint_ids
                          if cid not in pinned)
            sizes = self.layout.kv_sizes(session_id)
            self._catalog.changed(session_id, before, lambda conn: IndexDB.put_blobs(conn, session_id, sizes),
                                  kv_rescanned=True)
        return removed

    # ----- helpers (SessionStore provides _writing and get_session) ---------------------------

    def _marks_for_writing(self, session_id: str) -> SessionMarks:
        """The marks as they are on disk; a newer format is refused rather than overwritten."""
        try:
            return self.files.read(self.layout.marks(session_id), SessionMarks, MAX_MARKS_BYTES)
        except (NotFound, BrokenFile):
            return SessionMarks()


def _marks_written(conn: sqlite3.Connection, session_id: str, rows: dict[str, MarkRow], text: str) -> None:
    IndexDB.put_marks(conn, session_id, rows)
    IndexDB.set_text_columns(conn, session_id, {"marks": text})


def _writable_folder(files: StoreFiles, folder: Path) -> None:
    """A folder inside a session that a write may go into: a real folder, or none yet (it is created)."""
    if os.path.lexists(folder) and not is_real_dir(folder):
        problem = files.set_aside(folder, "it should be a folder of the store and is not")
        raise StorageError(f"nothing was saved: {problem}")


def _checkpoint_added(conn: sqlite3.Connection, meta: SessionMeta, checkpoint: Checkpoint,
                      kv_sizes: dict[str, int] | None) -> None:
    IndexDB.update_session(conn, meta.id, meta_fields(meta))
    conn.execute("UPDATE sessions SET n_checkpoints = n_checkpoints + 1 WHERE id = ?", (meta.id,))
    maybe_latest(conn, meta.id, checkpoint)
    if kv_sizes is not None:
        IndexDB.put_blobs(conn, meta.id, kv_sizes)


def _one_line(text: str) -> str:
    return " ".join("".join(" " if ch in "\r\n\t\v\f\x00" else ch for ch in str(text)).split())


def _is_regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _remove_regular_file(path: Path) -> bool:
    """Remove a blob file; a folder or a link that took its name is never touched."""
    if not _is_regular_file(path):
        return False
    try:
        path.unlink()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True
