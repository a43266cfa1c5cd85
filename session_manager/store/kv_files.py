"""The KV snapshot files of a store (``kv/<checkpoint-id>.kv``): where they are, how much room they take,
and their removal (the disk budget, superseded snapshots). Pinned checkpoints keep theirs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..atomic import describe_os_error, fsync_dir
from ..errors import StorageError
from ..models import Checkpoint
from . import queries
from .core import StoreCore
from .index_db import IndexDB
from .layout import Stamps, is_real_dir
from .marks import Marks
from .summaries import KVBlobInfo


class KVFiles:
    def __init__(self, core: StoreCore, marks: Marks) -> None:
        self._core = core
        self._marks = marks

    def kv_path(self, session_id: str, checkpoint_id: str) -> Path:
        return self._core.layout.kv(session_id, checkpoint_id)

    def place(self, session_id: str, checkpoint_id: str, staged: Path) -> None:
        """Move a blob written into the store's scratch folder to its place (the caller holds the lock)."""
        target = self.kv_path(session_id, checkpoint_id)
        try:
            target.parent.mkdir(exist_ok=True)
            if not is_real_dir(target.parent):
                raise StorageError(f"nothing was saved: {target.parent} should be a folder of the store and is not")
            os.replace(staged, target)
            fsync_dir(target.parent)
        except OSError as exc:
            raise StorageError(describe_os_error(exc, target)) from exc

    def has_kv(self, session_id: str, checkpoint: Checkpoint) -> bool:
        """The checkpoint names a KV snapshot and its blob is still on disk (the budget may evict it)."""
        return checkpoint.kv is not None and is_regular_file(self.kv_path(session_id, checkpoint.id))

    def kv_bytes(self, session_id: str) -> int:
        return sum(self._core.layout.kv_sizes(session_id).values())

    def kv_blobs(self) -> list[KVBlobInfo]:
        """Every KV blob in the store, oldest first (ids sort by time)."""
        return queries.blobs(self._core.catalog.swept(), self._core.layout)

    def evict_kv(self, budget_bytes: int, keep: set[str] | None = None) -> list[KVBlobInfo]:
        """Delete the oldest KV blobs until the total fits ``budget_bytes``. Text is never touched, and
        neither are the blobs of pinned checkpoints or of the checkpoint ids in ``keep``."""
        core, keep = self._core, keep or set()
        evicted: list[KVBlobInfo] = []
        with core.lock.hold():
            db = core.catalog.swept()
            blobs, pinned = queries.blobs(db, core.layout), queries.pinned_checkpoints(db)
            total = sum(blob.size for blob in blobs)
            befores: dict[str, Stamps] = {}
            for blob in blobs:
                if total <= budget_bytes:
                    break
                if blob.checkpoint_id in keep or (blob.session_id, blob.checkpoint_id) in pinned:
                    continue
                befores.setdefault(blob.session_id, core.layout.stamps(blob.session_id))
                if remove_regular_file(blob.path):
                    total -= blob.size
                    evicted.append(blob)
            for session_id, before in befores.items():
                self._rescanned(session_id, before)
        return evicted

    def remove_kv(self, session_id: str, checkpoint_ids: list[str]) -> int:
        """Delete these checkpoints' KV blobs (their text stays); pinned ones are kept. How many went."""
        with self._core.writing(session_id) as before:
            pinned = self._marks.pinned(session_id)
            removed = sum(remove_regular_file(self.kv_path(session_id, cid)) for cid in checkpoint_ids
                          if cid not in pinned)
            self._rescanned(session_id, before)
        return removed

    def _rescanned(self, session_id: str, before: Stamps) -> None:
        sizes = self._core.layout.kv_sizes(session_id)
        self._core.catalog.changed(session_id, before, lambda conn: IndexDB.put_blobs(conn, session_id, sizes),
                                   kv_rescanned=True)


def is_regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def remove_regular_file(path: Path) -> bool:
    """Remove a blob file; a folder or a link that took its name is never touched."""
    if not is_regular_file(path):
        return False
    try:
        path.unlink()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True
