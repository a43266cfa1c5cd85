"""The checkpoints of a session: one immutable ``checkpoints/<id>.json`` each, listed from the index."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from ..errors import BrokenFile, NewerFormat, NotFound, StorageError
from ..models import Checkpoint, SessionMeta, utcnow
from . import queries, staging
from .core import StoreCore
from .files import StoreFiles
from .index_db import IndexDB
from .kv_files import KVFiles, is_regular_file
from .layout import MAX_CHECKPOINT_BYTES, Stamps, is_real_dir, kv_file_name
from .marks import Marks
from .scan import checkpoint_row, latest_fields, meta_fields, micros, search_text
from .summaries import CheckpointSummary

# Writes a checkpoint's KV blob into the path it is given; returns the checkpoint naming it (or unchanged).
KVWriter = Callable[[Path], Checkpoint]


class Checkpoints:
    """Adds, reads and deletes checkpoints; a deleted one takes its mark and its KV file with it."""

    def __init__(self, core: StoreCore) -> None:
        self._core = core
        self.marks = Marks(core, self.get_checkpoint)
        self.kv = KVFiles(core, self.marks)

    def add_checkpoint(self, session_id: str, checkpoint: Checkpoint, kv: KVWriter | None = None) -> Checkpoint:
        """Write a new checkpoint; on any failure nothing of it stays on disk (not even its KV blob).

        ``kv`` takes the checkpoint's KV snapshot under the store's lock: it writes the blob into the
        staging file it is given and returns the checkpoint to save (naming the blob, or unchanged when
        no snapshot could be taken). The blob and the checkpoint then appear together, or neither does.
        """
        core = self._core
        if kv is None:
            with core.writing(session_id) as before:
                return self._write(session_id, checkpoint, before, None)
        with core.writing(session_id) as before, staging.scratch_folder(core.layout) as scratch:
            self._new_place(session_id, checkpoint)  # checked before the engine spends time on a snapshot
            staged = scratch / kv_file_name(checkpoint.id)
            return self._write(session_id, _snapshot(kv, staged, checkpoint), before, staged)

    def _write(self, session_id: str, checkpoint: Checkpoint, before: Stamps, staged: Path | None) -> Checkpoint:
        """Write the checkpoint (and move its staged blob into place) under the lock the caller holds."""
        core = self._core
        meta = core.read_session(session_id)  # read under the lock: a rename is never undone
        path = self._new_place(session_id, checkpoint)
        meta = meta.model_copy(update={"updated": utcnow(), "mode": checkpoint.mode})
        try:
            if staged is not None and checkpoint.kv is not None:
                self.kv.place(session_id, checkpoint.id, staged)
            core.files.write(path, checkpoint)
            core.files.write(core.layout.session_file(session_id), meta)
        except BaseException:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
            if checkpoint.kv is not None:
                with contextlib.suppress(OSError, ValueError):
                    self.kv.kv_path(session_id, checkpoint.id).unlink(missing_ok=True)
            raise
        sizes = core.layout.kv_sizes(session_id) if checkpoint.kv is not None else None
        core.catalog.changed(session_id, before, lambda conn: _checkpoint_added(conn, meta, checkpoint, sizes),
                             rows=[checkpoint_row(checkpoint)], kv_rescanned=sizes is not None,
                             added_bytes=path.stat().st_size)
        return checkpoint

    def _new_place(self, session_id: str, checkpoint: Checkpoint) -> Path:
        """Where the checkpoint goes: refused when taken (checkpoints are immutable) or not in a real folder."""
        path = self._core.layout.checkpoint(session_id, checkpoint.id)
        if os.path.lexists(path):
            raise StorageError(f"checkpoint {checkpoint.id} already exists; checkpoints are never overwritten")
        _writable_folder(self._core.files, path.parent)
        return path

    def checkpoint_ids(self, session_id: str) -> list[str]:
        """Newest first; ids sort by time, so no file is opened."""
        return self._core.layout.checkpoint_ids(session_id)

    def list_checkpoints(self, session_id: str, limit: int | None = None) -> list[Checkpoint]:
        """Newest first, read from their files; a broken file is set aside and skipped."""
        result: list[Checkpoint] = []
        for checkpoint_id in self.checkpoint_ids(session_id):
            if limit is not None and len(result) >= limit:
                break
            with contextlib.suppress(BrokenFile, NotFound, NewerFormat):
                result.append(self.get_checkpoint(session_id, checkpoint_id))
        return result

    def latest(self, session_id: str) -> Checkpoint | None:
        return next(iter(self.list_checkpoints(session_id, limit=1)), None)

    def get_checkpoint(self, session_id: str, checkpoint_id: str) -> Checkpoint:
        layout = self._core.layout
        path = layout.checkpoint(session_id, checkpoint_id)
        try:
            if not layout.has_session(session_id):
                raise NotFound(path)
            return self._core.files.read(path, Checkpoint, MAX_CHECKPOINT_BYTES, expected_id=checkpoint_id)
        except NotFound as exc:
            raise NotFound(f"session {session_id} has no checkpoint {checkpoint_id}") from exc

    def delete_checkpoint(self, session_id: str, checkpoint_id: str) -> None:
        core = self._core
        with core.writing(session_id):
            checkpoint = self.get_checkpoint(session_id, checkpoint_id)
            core.layout.checkpoint(session_id, checkpoint.id).unlink()
            self.kv.kv_path(session_id, checkpoint_id).unlink(missing_ok=True)
            self.marks.forget(session_id, checkpoint_id)
            core.catalog.reread(session_id)

    def checkpoint_summaries(self, session_id: str, limit: int | None = None,
                             offset: int = 0) -> list[CheckpointSummary]:
        """Light rows for pickers and timelines, newest first, from the index (no checkpoint file is read
        unless it is new since the last call). The marks' labels, pins and notes are applied."""
        layout = self._core.layout
        layout.session(session_id)
        if not layout.has_session(session_id):
            return []
        db = self._core.catalog.checkpoint_rows(session_id)
        return queries.checkpoint_page(db, session_id, limit, offset)


def _snapshot(kv: KVWriter, staged: Path, checkpoint: Checkpoint) -> Checkpoint:
    """The checkpoint the KV writer returns, checked: the same checkpoint, and a blob where it says."""
    written = kv(staged)
    if written.id != checkpoint.id:
        raise ValueError("a KV writer returns the checkpoint it was given, with or without its snapshot")
    if written.kv is not None and not is_regular_file(staged):
        raise StorageError(f"the KV snapshot of checkpoint {checkpoint.id} was not written; nothing was saved")
    return written


def maybe_latest(conn: sqlite3.Connection, session_id: str, state: Checkpoint) -> None:
    """The index's "latest state" of a session is ``state`` when nothing newer is known."""
    found = conn.execute("SELECT latest_created FROM sessions WHERE id = ?", (session_id,)).fetchone()
    if found is not None and (found[0] is None or micros(state.created) >= found[0]):
        IndexDB.update_session(conn, session_id, latest_fields(state))
        IndexDB.set_text_columns(conn, session_id, {"text": search_text(state)})


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
