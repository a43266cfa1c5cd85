"""SessionStore: sessions and checkpoints as folders of small JSON files, with an index beside them.

The folders (layout.py) are the truth; index.sqlite (catalog.py) answers lists, search and
checkpoint summaries quickly and is rebuilt from the folders whenever it is missing, stale
or damaged. Writers hold the store lock (locking.py), so two processes never undo each
other's changes; sessions are created, branched and imported whole (staging.py).

Adding a checkpoint writes one new file, so it costs the same with 10 or 10,000.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import unicodedata
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path

from ..atomic import file_kind
from ..errors import BrokenFile, InvalidName, NewerFormat, NotFound, StorageError
from ..models import (
    Checkpoint,
    HostLink,
    Mode,
    ParentRef,
    SessionMeta,
    is_session_id,
    new_checkpoint_id,
    new_session_id,
    utcnow,
)
from . import queries, staging
from .bundle import SessionBundle
from .catalog import Catalog
from .checkpoints import CheckpointStore
from .files import Problem, StoreFiles
from .index_db import IndexDB
from .layout import DELETING, MAX_SESSION_BYTES, Layout, Stamps, is_real_dir
from .locking import StoreLock
from .scan import link_key, meta_fields, meta_text
from .summaries import BranchLink, CheckpointSummary, KVBlobInfo, SearchHit, SessionSummary

__all__ = ["SessionStore", "SessionSummary", "SearchHit", "CheckpointSummary", "KVBlobInfo", "BranchLink",
           "clean_name"]

MAX_NAME_LENGTH = 120


class SessionStore(CheckpointStore):
    """All reads and writes of one store. Safe to share between threads and with other processes."""

    def __init__(self, root: Path, *, index: bool = True) -> None:
        self.root = Path(root).expanduser()
        self.layout = Layout(self.root)
        self.sessions_dir = self.layout.sessions
        self.broken_dir = self.layout.broken
        self.problems: list[Problem] = []
        self.files = StoreFiles(self.layout, self._report)
        self._lock = StoreLock(self.layout.lock)
        self._catalog = Catalog(self.layout, self.files, self._lock, use_file=index)
        super().__init__()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            _set_aside_impostors(self.layout, self.files)
            self.sessions_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the session folder {self.sessions_dir}: {exc.strerror}") from exc

    # ----- sessions -------------------------------------------------------------------------

    def create_session(self, name: str, mode: Mode = "default", parent: ParentRef | None = None) -> SessionMeta:
        now = utcnow()
        meta = SessionMeta(id=new_session_id(now), name=clean_name(name), created=now, updated=now, mode=mode,
                           parent=parent)
        return self._put_in_place(staging.StagedSession(meta))

    def get_session(self, session_id: str) -> SessionMeta:
        path = self.layout.session_file(session_id)
        if not self.layout.has_session(session_id):
            raise NotFound(f"there is no session {session_id}")
        try:
            return self.files.read(path, SessionMeta, MAX_SESSION_BYTES, expected_id=session_id)
        except NotFound as exc:
            raise NotFound(f"there is no session {session_id}") from exc

    def list_sessions(self, limit: int | None = None, offset: int = 0) -> list[SessionSummary]:
        """Readable sessions, most recently changed first (``limit``/``offset`` for pages)."""
        return self._catalog.query(lambda db: queries.session_page(db, limit, offset))

    def count_sessions(self) -> int:
        return self._catalog.query(queries.session_count)

    def hidden_sessions(self) -> list[tuple[str, str]]:
        """(id, why) of session folders the list leaves out: no readable session.json, or a newer format."""
        return self._catalog.query(queries.hidden_sessions)

    def rename_session(self, session_id: str, name: str) -> SessionMeta:
        """Change the label only: no file moves, so two sessions may share a name."""
        return self.update_session(session_id, name=clean_name(name))

    def update_session(self, session_id: str, **fields: object) -> SessionMeta:
        with self._writing(session_id) as before:
            meta = self.get_session(session_id)
            meta = SessionMeta.model_validate({**meta.model_dump(), **fields, "id": meta.id, "updated": utcnow()})
            self.files.write(self.layout.session_file(session_id), meta)
            self._catalog.changed(session_id, before, lambda conn: _put_meta(conn, meta))
            return meta

    def delete_session(self, session_id: str) -> None:
        folder = self.layout.session(session_id)
        doomed = self.root / f"{DELETING}{session_id}"
        with self._lock.hold():
            if not self.layout.has_session(session_id):
                raise NotFound(f"there is no session {session_id}")
            before = self.layout.sessions_stamp()
            if doomed.exists():
                shutil.rmtree(doomed, ignore_errors=True)
            # Rename first: the session is gone at once even if removing the tree is interrupted.
            os.replace(folder, doomed)
            self._catalog.reread(session_id)
            self._catalog.sessions_moved(before)
            self._forget(session_id)
        shutil.rmtree(doomed, ignore_errors=True)

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
        meta = SessionMeta(id=new_session_id(now), name=clean_name(name or f"{source.name} (branch)"), created=now,
                           updated=now, mode=checkpoint.mode, parent=ParentRef(session=session_id,
                                                                              checkpoint=checkpoint_id))
        return self._put_in_place(staging.StagedSession(meta, [copy], blobs=blobs)), copy

    def add_bundle(self, bundle: SessionBundle) -> SessionMeta:
        """Import a whole session as a new one: all of it, verified, or nothing (see staging.py)."""
        return self._put_in_place(staging.from_bundle(bundle, self._report))

    def search(self, query: str, *, tag: str | None = None, model: str | None = None, mode: Mode | None = None,
               since: datetime | None = None, until: datetime | None = None, limit: int | None = None,
               offset: int = 0) -> list[SearchHit]:
        """Sessions with every word of ``query`` in their name, tags, notes or latest text, best first.

        A word matches whole words and their beginnings ("light" finds "lighthouse"); accents and case
        do not matter. An empty query lists every session the filters keep, most recent first.
        """
        where = queries.SearchFilter(tag=tag, model=model, mode=mode, since=since, until=until)
        return self._catalog.query(lambda db: queries.search_sessions(db, query, where, limit, offset))

    def branch_links(self) -> list[BranchLink]:
        """Every session branched from another one's checkpoint (the store's family tree), from the index."""
        return self._catalog.query(queries.branch_links)

    def find_by_link(self, link: HostLink) -> SessionMeta | None:
        """The session that follows this textgen prompt or chat (the most recently changed, if several)."""
        return self._find("link_key", link_key(link), lambda meta: meta.link is not None
                          and link_key(meta.link) == link_key(link))

    def find_by_origin(self, origin: str) -> SessionMeta | None:
        """The session imported from ``origin`` (so importing it again finds it instead of copying it)."""
        return self._find("origin", origin, lambda meta: meta.origin == origin)

    # ----- the whole store ------------------------------------------------------------------

    def revision(self) -> int:
        """A number that changes whenever anything in the store changed, here or in another process.

        Cheap (a few stats and one query): a panel polls it to know when to refresh. Changes made
        by hand are noticed within a few calls (each call compares a slice of the session folders).
        """
        return self._catalog.revision()

    def refresh(self) -> int:
        """Compare every session folder with the index now (after editing files by hand)."""
        return self._catalog.refresh()

    def session_dir(self, session_id: str) -> Path:
        return self.layout.session(session_id)

    def set_aside(self, path: Path, reason: str) -> BrokenFile:
        """Move a broken file into <root>/broken/ so it is kept for the user but out of the way."""
        return self.files.set_aside(path, reason)

    def locked(self) -> AbstractContextManager[None]:
        """Hold the store's lock across processes (for repairs such as doctor's)."""
        return self._lock.hold()

    def scratch(self) -> AbstractContextManager[Path]:
        """A private folder inside the store for files on their way in (an import), removed afterwards."""
        return staging.scratch_folder(self.layout)

    def close(self) -> None:
        self._catalog.close()

    # ----- helpers --------------------------------------------------------------------------

    @contextmanager
    def _writing(self, session_id: str) -> Iterator[Stamps]:
        """Hold the store lock on an existing session; yields its folder times before the write."""
        with self._lock.hold():
            if not self.layout.has_session(session_id):
                raise NotFound(f"there is no session {session_id}")
            yield self.layout.stamps(session_id)

    def _put_in_place(self, staged: staging.StagedSession) -> SessionMeta:
        with staging.scratch_folder(self.layout) as folder:
            staging.build(self.layout, self.files, staged, folder / "session")
            with self._lock.hold():
                before = self.layout.sessions_stamp()
                staging.publish(self.layout, folder / "session", staged.meta.id)
                self._catalog.reread(staged.meta.id)
                self._catalog.sessions_moved(before)
        return staged.meta

    def _find(self, column: str, value: str, check: object) -> SessionMeta | None:
        for session_id in self._catalog.query(lambda db: queries.session_ids_where(db, column, value)):
            try:
                meta = self.get_session(session_id)
            except (BrokenFile, NotFound, NewerFormat):
                continue
            if check(meta):  # type: ignore[operator]
                return meta
        return None

    def _index(self, session_id: str) -> IndexDB:
        return self._catalog.session_fresh(session_id)

    def _report(self, problem: Problem) -> None:
        self.problems.append(problem)
        session_id = _session_of(self.layout, problem.path) if problem.path is not None else None
        if session_id is not None:
            self._catalog.mark_stale(session_id)


def clean_name(name: str) -> str:
    """A user-typed name as a one-line label: control characters out, length capped."""
    text = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in str(name or ""))
    text = " ".join(text.split())[:MAX_NAME_LENGTH].strip()
    if not text:
        raise InvalidName("a session name needs at least one visible character")
    return text


def _set_aside_impostors(layout: Layout, files: StoreFiles) -> None:
    """A link, a file or a FIFO where the store keeps its sessions or its lock is moved out of the way
    (never followed): the store then starts that place afresh."""
    if os.path.lexists(layout.sessions) and not is_real_dir(layout.sessions):
        files.set_aside(layout.sessions, f"the sessions folder is {_kind(layout.sessions)}; the store never "
                        "follows links out of itself")
    if os.path.lexists(layout.lock) and not _is_regular(layout.lock):
        files.set_aside(layout.lock, f"the store's lock file is {_kind(layout.lock)}")


def _session_of(layout: Layout, path: Path) -> str | None:
    """The session a file of the store belongs to, if any."""
    try:
        parts = Path(os.path.abspath(path)).relative_to(os.path.abspath(layout.sessions)).parts
    except ValueError:
        return None
    return parts[0] if parts and is_session_id(parts[0]) else None


def _kind(path: Path) -> str:
    return file_kind(os.lstat(path).st_mode)


def _is_regular(path: Path) -> bool:
    return stat.S_ISREG(os.lstat(path).st_mode)


def _put_meta(conn: sqlite3.Connection, meta: SessionMeta) -> None:
    IndexDB.update_session(conn, meta.id, meta_fields(meta))
    name, tags, notes = meta_text(meta)
    IndexDB.set_text_columns(conn, meta.id, {"name": name, "tags": tags, "notes": notes})
