"""SessionStore: sessions and checkpoints as folders of small JSON files, with an index beside them.

The store's one front door, composed of parts that share one ``StoreCore`` (core.py: the layout,
the files, the cross-process lock and the index): ``Sessions`` (sessions.py), ``Checkpoints``
(checkpoints.py) with its ``Marks`` (marks.py) and ``KVFiles`` (kv_files.py), and ``Autosaves``
(autosaves.py). Each method here is one of theirs; the part says what it does.

The folders (layout.py) are the truth; index.sqlite (catalog.py) answers lists, search and
checkpoint summaries quickly and is rebuilt from the folders whenever it is missing, stale
or damaged. Writers hold the store lock (locking.py), so two processes never undo each
other's changes; sessions are created, branched and imported whole (staging.py).

Adding a checkpoint writes one new file, so it costs the same with 10 or 10,000.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import BrokenFile, ImportFailed
from ..limits import MAX_NAME_LENGTH
from ..models import (
    Checkpoint,
    CheckpointMark,
    HostLink,
    Mode,
    ParentRef,
    SessionMarks,
    SessionMeta,
    new_checkpoint_id,
    new_session_id,
    utcnow,
)
from . import staging
from .autosaves import Autosaves
from .browsing import Browsing, IndexUpkeep
from .bundle import SessionBundle
from .checkpoints import Checkpoints, KVWriter
from .core import StoreCore
from .files import Problem
from .session_table import SessionRow, TableQuery
from .session_writer import SessionWriter
from .sessions import Sessions, clean_name
from .summaries import BranchLink, CheckpointSummary, KVBlobInfo, SearchHit, SessionSummary

__all__ = ["MAX_NAME_LENGTH", "KVWriter", "SessionStore", "SessionSummary", "SearchHit", "CheckpointSummary",
           "KVBlobInfo", "BranchLink", "clean_name"]


class SessionStore:
    """All reads and writes of one store. Safe to share between threads and with other processes."""

    def __init__(self, root: Path, *, index: bool = True) -> None:
        self._core = StoreCore(root, index=index)
        self._sessions = Sessions(self._core)
        self._checkpoints = Checkpoints(self._core)
        self._marks = self._checkpoints.marks
        self._kv = self._checkpoints.kv
        self._autosaves = Autosaves(self._core, self._checkpoints)
        self._browsing = Browsing(self._core)
        self.upkeep = IndexUpkeep(self._core)  # the index's watch, progress and audit (hosts, doctor)
        self.root = self._core.root
        self.layout = self._core.layout
        self.files = self._core.files
        self.problems: list[Problem] = self._core.problems

    # ----- sessions (sessions.py) -----------------------------------------------------------

    def create_session(self, name: str, mode: Mode = "default", parent: ParentRef | None = None) -> SessionMeta:
        return self._sessions.create_session(name, mode, parent)

    def get_session(self, session_id: str) -> SessionMeta:
        return self._sessions.get_session(session_id)

    def list_sessions(self, limit: int | None = None, offset: int = 0) -> list[SessionSummary]:
        return self._sessions.list_sessions(limit, offset)

    def count_sessions(self, query: str = "", **where: Any) -> int:  # search's words and filters
        return self._sessions.count_sessions(query, **where)

    def hidden_sessions(self) -> list[tuple[str, str]]:
        return self._sessions.hidden_sessions()

    def rename_session(self, session_id: str, name: str) -> SessionMeta:
        return self._sessions.rename_session(session_id, name)

    def update_session(self, session_id: str, **fields: object) -> SessionMeta:
        return self._sessions.update_session(session_id, **fields)

    def delete_session(self, session_id: str) -> None:
        self._sessions.delete_session(session_id)
        self._autosaves.forget(session_id)

    def branch(self, session_id: str, checkpoint_id: str, name: str | None = None) -> tuple[SessionMeta, Checkpoint]:
        """A new session that starts from a copy of one checkpoint (its KV blob is copied too)."""
        source = self.get_session(session_id)
        checkpoint = self.get_checkpoint(session_id, checkpoint_id)
        now = utcnow()
        copy = checkpoint.model_copy(update={"id": new_checkpoint_id(now), "created": now, "trigger": "branch"})
        blob = self.kv_path(session_id, checkpoint_id)
        blobs = {copy.id: blob} if checkpoint.kv is not None and self.has_kv(session_id, checkpoint) else {}
        if checkpoint.kv is not None:
            copy = copy.model_copy(update={"kv": checkpoint.kv.model_copy(update={"file": f"{copy.id}.kv"})
                                           if blobs else None})
        parent = ParentRef(session=session_id, checkpoint=checkpoint_id)
        meta = SessionMeta(id=new_session_id(now), name=clean_name(name or f"{source.name} (branch)"), created=now,
                           updated=now, mode=checkpoint.mode, parent=parent)
        return self._sessions.put_in_place(staging.StagedSession(meta, [copy], blobs=blobs)), copy

    def add_bundle(self, bundle: SessionBundle) -> SessionMeta:
        return self._sessions.add_bundle(bundle)

    def add_written(self, writer: SessionWriter, meta: SessionMeta) -> SessionMeta:  # see SessionWriter
        return self._sessions.add_written(writer.folder, meta)

    def add_bundles(self, bundles: list[SessionBundle]) -> list[SessionMeta | ImportFailed]:
        """Import many sessions (a training file), each whole or not at all: see staging.put_many_in_place."""
        core = self._core
        return staging.put_many_in_place(core.layout, core.files, core.lock, core.catalog, bundles, core.report)

    def search(self, query: str, *, tag: str | None = None, model: str | None = None, mode: Mode | None = None,
               since: datetime | None = None, until: datetime | None = None, limit: int | None = None,
               offset: int = 0, snippets: bool = True) -> list[SearchHit]:
        return self._sessions.search(query, tag=tag, model=model, mode=mode, since=since, until=until, limit=limit,
                                     offset=offset, snippets=snippets)

    # ----- browsing (browsing.py): pages, lookups, the index's watch and checks ------------

    def iter_sessions(self, batch: int = 1000) -> Iterator[SessionSummary]:
        return self._browsing.iter_sessions(batch)

    def session_table(self, query: TableQuery) -> tuple[list[SessionRow], int]:
        return self._browsing.session_table(query)

    def session_summary(self, session_id: str) -> SessionSummary | None:
        return self._browsing.session_summary(session_id)

    def find_session(self, query: str) -> SessionSummary:
        return self._browsing.find_session(query)

    def branch_links(self) -> list[BranchLink]:
        return self._sessions.branch_links()

    def find_by_link(self, link: HostLink) -> SessionMeta | None:
        return self._sessions.find_by_link(link)

    def find_by_origin(self, origin: str) -> SessionMeta | None:
        return self._sessions.find_by_origin(origin)

    # ----- checkpoints (checkpoints.py), marks (marks.py), KV files (kv_files.py) -----------

    def add_checkpoint(self, session_id: str, checkpoint: Checkpoint, kv: KVWriter | None = None) -> Checkpoint:
        return self._checkpoints.add_checkpoint(session_id, checkpoint, kv)

    def checkpoint_ids(self, session_id: str) -> list[str]:
        return self._checkpoints.checkpoint_ids(session_id)

    def list_checkpoints(self, session_id: str, limit: int | None = None) -> list[Checkpoint]:
        return self._checkpoints.list_checkpoints(session_id, limit)

    def get_checkpoint(self, session_id: str, checkpoint_id: str) -> Checkpoint:
        return self._checkpoints.get_checkpoint(session_id, checkpoint_id)

    def delete_checkpoint(self, session_id: str, checkpoint_id: str) -> None:
        self._checkpoints.delete_checkpoint(session_id, checkpoint_id)

    def checkpoint_summaries(self, session_id: str, limit: int | None = None,
                             offset: int = 0) -> list[CheckpointSummary]:
        return self._checkpoints.checkpoint_summaries(session_id, limit, offset)

    def marks(self, session_id: str) -> SessionMarks:
        return self._marks.marks(session_id)

    def set_mark(self, session_id: str, checkpoint_id: str, *, pinned: bool | None = None, note: str | None = None,
                 label: str | None = None) -> CheckpointMark:
        return self._marks.set_mark(session_id, checkpoint_id, pinned=pinned, note=note, label=label)

    def kv_path(self, session_id: str, checkpoint_id: str) -> Path:
        return self._kv.kv_path(session_id, checkpoint_id)

    def has_kv(self, session_id: str, checkpoint: Checkpoint) -> bool:
        return self._kv.has_kv(session_id, checkpoint)

    def kv_bytes(self, session_id: str) -> int:
        return self._kv.kv_bytes(session_id)

    def kv_blobs(self) -> list[KVBlobInfo]:
        return self._kv.kv_blobs()

    def evict_kv(self, budget_bytes: int, keep: set[str] | None = None) -> list[KVBlobInfo]:
        return self._kv.evict_kv(budget_bytes, keep)

    def remove_kv(self, session_id: str, checkpoint_ids: list[str]) -> int:
        return self._kv.remove_kv(session_id, checkpoint_ids)

    # ----- autosaves (autosaves.py) ---------------------------------------------------------

    def write_autosave(self, session_id: str, snapshot: Checkpoint) -> bool:
        return self._autosaves.write_autosave(session_id, snapshot)

    def read_autosave(self, session_id: str) -> Checkpoint | None:
        return self._autosaves.read_autosave(session_id)

    def autosaves(self, session_id: str, limit: int | None = None) -> list[Checkpoint]:
        return self._autosaves.autosaves(session_id, limit)

    def autosave_ids(self, session_id: str) -> list[str]:
        return self._autosaves.autosave_ids(session_id)

    def get_autosave(self, session_id: str, checkpoint_id: str) -> Checkpoint:
        return self._autosaves.get_autosave(session_id, checkpoint_id)

    def show_step(self, session_id: str, entry: Checkpoint | None) -> Checkpoint | None:
        return self._autosaves.show_step(session_id, entry)

    def latest_state(self, session_id: str) -> Checkpoint | None:
        return self._autosaves.latest_state(session_id)

    # ----- the whole store ------------------------------------------------------------------

    def revision(self) -> int:
        """A number that changes whenever anything in the store changed, here or in another process.

        Cheap (a few stats and one query): a panel polls it to know when to refresh. Changes made
        by hand are noticed within a few calls (each call compares a slice of the session folders).
        """
        return self._core.catalog.revision()

    def refresh(self) -> int:
        """Compare every session folder with the index now (after editing files by hand)."""
        return self._core.catalog.refresh()

    def session_dir(self, session_id: str) -> Path:
        return self.layout.session(session_id)

    def set_aside(self, path: Path, reason: str) -> BrokenFile:
        """Move a broken file into <root>/broken/ so it is kept for the user but out of the way."""
        return self.files.set_aside(path, reason)

    def locked(self) -> AbstractContextManager[None]:
        """Hold the store's lock across processes (for repairs such as doctor's)."""
        return self._core.lock.hold()

    def scratch(self) -> AbstractContextManager[Path]:
        """A private folder inside the store for files on their way in (an import), removed afterwards."""
        return staging.scratch_folder(self.layout)

    def close(self) -> None:
        self._core.catalog.close()
