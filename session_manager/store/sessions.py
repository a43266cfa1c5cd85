"""The sessions of a store: each a folder with its session.json, created, branched and imported whole."""

from __future__ import annotations

import os
import shutil
import sqlite3
import unicodedata
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ..errors import BrokenFile, CheckpointTooLarge, InvalidName, NewerFormat, NotFound
from ..limits import MAX_NAME_LENGTH
from ..limits_check import checked_meta
from ..models import HostLink, Mode, ParentRef, SessionMeta, new_session_id, utcnow
from . import queries, staging
from .bundle import SessionBundle
from .core import StoreCore
from .entry_size import import_refused
from .index_db import IndexDB
from .layout import DELETING
from .scan import link_key, meta_fields, meta_text
from .summaries import BranchLink, SearchHit, SessionSummary


class Sessions:
    """Sessions as wholes: their session.json, the list and search of them, and their folders."""

    def __init__(self, core: StoreCore) -> None:
        self._core = core

    def create_session(self, name: str, mode: Mode = "default", parent: ParentRef | None = None) -> SessionMeta:
        now = utcnow()
        meta = SessionMeta(id=new_session_id(now), name=clean_name(name), created=now, updated=now, mode=mode,
                           parent=parent)
        return self.put_in_place(staging.StagedSession(meta))

    def get_session(self, session_id: str) -> SessionMeta:
        return self._core.read_session(session_id)

    def list_sessions(self, limit: int | None = None, offset: int = 0) -> list[SessionSummary]:
        """Readable sessions, most recently changed first (``limit``/``offset`` for pages)."""
        return self._core.catalog.query_sessions(lambda db: queries.session_page(db, limit, offset))

    def count_sessions(self, query: str = "", *, tag: str | None = None, model: str | None = None,
                       mode: Mode | None = None, since: datetime | None = None, until: datetime | None = None) -> int:
        """How many sessions ``search`` with the same words and filters finds (all of them without any)."""
        where = queries.SearchFilter(tag=tag, model=model, mode=mode, since=since, until=until)
        return self._core.catalog.query(lambda db: queries.search_count(db, query, where))

    def hidden_sessions(self) -> list[tuple[str, str]]:
        """(id, why) of session folders the list leaves out: no readable session.json, or a newer format."""
        return self._core.catalog.query(queries.hidden_sessions)

    def rename_session(self, session_id: str, name: str) -> SessionMeta:
        """Change the label only: no file moves, so two sessions may share a name."""
        return self.update_session(session_id, name=clean_name(name))

    def update_session(self, session_id: str, **fields: object) -> SessionMeta:
        core = self._core
        with core.writing(session_id) as before:
            meta = core.read_session(session_id)
            meta = checked_meta({**meta.model_dump(), **fields, "id": meta.id, "updated": utcnow()})
            core.files.write(core.layout.session_file(session_id), meta)
            core.catalog.changed(session_id, before, lambda conn: _put_meta(conn, meta))
            return meta

    def delete_session(self, session_id: str) -> None:
        core = self._core
        folder = core.layout.session(session_id)
        doomed = core.root / f"{DELETING}{session_id}"
        with core.lock.hold():
            if not core.layout.has_session(session_id):
                raise NotFound(f"there is no session {session_id}")
            before = core.layout.sessions_stamp()
            if doomed.exists():
                shutil.rmtree(doomed, ignore_errors=True)
            # Rename first: the session is gone at once even if removing the tree is interrupted.
            os.replace(folder, doomed)
            core.catalog.reread(session_id)
            core.catalog.sessions_moved(before)
        shutil.rmtree(doomed, ignore_errors=True)

    def add_bundle(self, bundle: SessionBundle) -> SessionMeta:
        """Import a whole session as a new one: all of it, verified, or nothing (see staging.py)."""
        try:
            return self.put_in_place(staging.from_bundle(bundle, self._core.report))
        except CheckpointTooLarge as exc:  # said as an import says it
            raise import_refused(exc.why) from exc

    def add_written(self, folder: Path, meta: SessionMeta) -> SessionMeta:
        """A session folder written whole by a SessionWriter: synced at once, moved in under the lock."""
        core = self._core
        os.sync()  # one sync for every file of the folder (syncing each of 100,000 files takes minutes)
        with core.lock.hold():
            before = core.layout.sessions_stamp()
            staging.publish(core.layout, folder, meta.id)
            core.catalog.reread(meta.id)
            core.catalog.sessions_moved(before)
        return meta

    def put_in_place(self, staged: staging.StagedSession) -> SessionMeta:
        """A whole new session, built beside the store and moved in under the lock in one rename."""
        core = self._core
        with staging.scratch_folder(core.layout) as folder:
            staging.build(core.layout, core.files, staged, folder / "session")
            with core.lock.hold():
                before = core.layout.sessions_stamp()
                staging.publish(core.layout, folder / "session", staged.meta.id)
                core.catalog.reread(staged.meta.id)
                core.catalog.sessions_moved(before)
        return staged.meta

    def search(self, query: str, *, tag: str | None = None, model: str | None = None, mode: Mode | None = None,
               since: datetime | None = None, until: datetime | None = None, limit: int | None = None,
               offset: int = 0, snippets: bool = True) -> list[SearchHit]:
        """Sessions with every word of ``query`` in their name, tags, notes or latest text, best first.

        A word matches whole words and their beginnings ("light" finds "lighthouse"); accents and case
        do not matter. An empty query lists every session the filters keep, most recent first.
        """
        where = queries.SearchFilter(tag=tag, model=model, mode=mode, since=since, until=until)
        return self._core.catalog.query_sessions(
            lambda db: queries.search_sessions(db, query, where, limit, offset, snippets))

    def branch_links(self) -> list[BranchLink]:
        """Every session branched from another one's checkpoint (the store's family tree), from the index."""
        return self._core.catalog.query(queries.branch_links)

    def find_by_link(self, link: HostLink) -> SessionMeta | None:
        """The session that follows this textgen prompt or chat (the most recently changed, if several)."""
        return self._find("link_key", link_key(link), lambda meta: meta.link is not None
                          and link_key(meta.link) == link_key(link))

    def find_by_origin(self, origin: str) -> SessionMeta | None:
        """The session imported from ``origin`` (so importing it again finds it instead of copying it)."""
        return self._find("origin", origin, lambda meta: meta.origin == origin)

    def _find(self, column: str, value: str, check: Callable[[SessionMeta], bool]) -> SessionMeta | None:
        for session_id in self._core.catalog.query(lambda db: queries.session_ids_where(db, column, value)):
            try:
                meta = self.get_session(session_id)
            except (BrokenFile, NotFound, NewerFormat):
                continue
            if check(meta):
                return meta
        return None


def clean_name(name: str) -> str:
    """A user-typed name as a one-line label: control characters out, length capped."""
    text = str(name or "")
    if not text.isprintable():  # only then can it hold a character of the C categories (a long import names many)
        text = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    text = " ".join(text.split())[:MAX_NAME_LENGTH].strip()
    if not text:
        raise InvalidName("a session name needs at least one visible character")
    return text


def _put_meta(conn: sqlite3.Connection, meta: SessionMeta) -> None:
    IndexDB.update_session(conn, meta.id, meta_fields(meta))
    name, tags, notes = meta_text(meta)
    IndexDB.set_text_columns(conn, meta.id, {"name": name, "tags": tags, "notes": notes})
