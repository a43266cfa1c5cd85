"""Keeps index.sqlite in step with the session folders, and falls back when it cannot.

How the index stays true to the files:
- every write through the store updates it at once (any process: the file is shared);
- each session row keeps the modification times (``Stamps``) its data was read at; a sweep
  compares them with the folders and reads again what differs: at the first use in a
  process, on ``refresh()``, in slices on every ``revision()`` call, and before KV eviction;
- a session folder added or removed by hand or by a sync tool changes ``sessions/``'s own
  time, which every read checks (one stat);
- a missing, corrupt or outdated index is rebuilt from the files, with a message; when the
  file cannot be used at all (a read-only or full disk), this process keeps its index in memory.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .files import StoreFiles
from .index_db import STALE, STAMP_FIELDS, IndexDB
from .index_keeper import IndexFile
from .layout import Layout, Stamps
from .locking import StoreLock
from .scan import SessionScan, checkpoint_row, read_checkpoint_quietly, scan_session

T = TypeVar("T")

# Sessions re-read per lock hold while rebuilding: writers wait at most this long for a batch.
BATCH = 200
# Sessions whose times one revision() call compares (a whole store is covered every few calls).
SWEEP_SLICE = 1000
# How long a reader waits for the store lock before it indexes without it (a cache row may be redone).
READER_LOCK_WAIT = 5.0


class Catalog:
    """The index of one store, as seen by one process."""

    def __init__(self, layout: Layout, files: StoreFiles, lock: StoreLock, *, use_file: bool = True) -> None:
        self.layout = layout
        self.files = files
        self.lock = lock
        self.file = IndexFile(layout, files, self._forget_sweep, use_file)
        self._guard = threading.Lock()  # this process's bookkeeping, never held long
        self._first_sweep = threading.Lock()
        self._swept = False
        self._cursor = ""  # revision() compares the sessions after this id next
        self._stale: set[str] = set()

    # ----- reading ---------------------------------------------------------------------------

    def query(self, run: Callable[[IndexDB], T]) -> T:
        """Run a read on a fresh index; a broken index is rebuilt and the read tried again."""
        return self.file.guarded(lambda: run(self._fresh()))

    def refresh(self) -> int:
        """Compare every session folder with the index now; returns how many sessions were read again."""
        return self.file.guarded(lambda: self._sweep(self._fresh()))

    def revision(self) -> int:
        """The index's generation after a cheap look at the folders (a slice of them per call)."""
        return self.file.guarded(self._revision)

    def session_fresh(self, session_id: str) -> IndexDB:
        """The index with this one session compared with its folder (a picker about to show it)."""
        return self.file.guarded(lambda: self._check_one(self._fresh(), session_id))

    def checkpoint_rows(self, session_id: str) -> IndexDB:
        """The index with this session's checkpoint rows complete (only files new since the last time are read)."""
        return self.file.guarded(lambda: self._sync_rows(self._check_one(self._fresh(), session_id), session_id))

    def swept(self) -> IndexDB:
        """The index with every folder compared (before KV eviction counts the blobs)."""
        return self.file.guarded(lambda: self._sweep_and_return(self._fresh()))

    # ----- writing (the caller holds the store lock and has written the files) -----------------

    def changed(self, session_id: str, before: Stamps, change: Callable[[sqlite3.Connection], None], *,
                rows: list[tuple[Any, ...]] | None = None, kv_rescanned: bool = False) -> None:
        """Apply what a write did. Rows stay trusted only if nothing else changed the folder before it."""
        after = self.layout.stamps(session_id)

        def apply() -> None:
            db = self.file.open()
            current = db.stamps_of(session_id)
            if current is None:
                self._reindex(db, [session_id])
                return
            stamps, rows_at = current
            new = [a if b == s else STALE for a, b, s in zip(after, before, stamps, strict=True)]
            if kv_rescanned:
                new[4] = after.kv
            trusted = rows_at is not None and rows_at == before.checkpoints == stamps.checkpoints
            with db.write() as conn:
                change(conn)
                if rows and trusted:
                    IndexDB.put_checkpoints(conn, session_id, rows)
                new_rows_at = after.checkpoints if trusted else rows_at
                conn.execute(f"UPDATE sessions SET {', '.join(f'{f} = ?' for f in STAMP_FIELDS)}, rows_at = ? "
                             "WHERE id = ?", (*new, new_rows_at, session_id))

        self.file.guarded(apply, quiet=True)

    def reread(self, *session_ids: str) -> None:
        """Read these sessions again from their files (after a change too complex to apply by hand)."""
        self.file.guarded(lambda: self._reindex(self.file.open(), list(session_ids)), quiet=True)

    def sessions_moved(self, before: int) -> None:
        """A session folder was added or removed by the store: keep the sessions/ time in step."""
        after = self.layout.sessions_stamp()

        def apply() -> None:
            db = self.file.open()
            if db.info("sessions_stamp") == before:
                with db.write() as conn:
                    IndexDB.set_info(conn, "sessions_stamp", after)

        self.file.guarded(apply, quiet=True)

    def mark_stale(self, session_id: str) -> None:
        """A file of this session was set aside while reading: read it again before the next answer."""
        with self._guard:
            self._stale.add(session_id)

    def close(self) -> None:
        self.file.close()

    def _forget_sweep(self) -> None:
        # A new index (fresh, rebuilt or in memory) has not been compared with the folders yet.
        self._swept = False

    # ----- freshness -------------------------------------------------------------------------

    def _fresh(self) -> IndexDB:
        db = self.file.open()
        if not self._swept:
            with self._first_sweep:
                if not self._swept:
                    self._sweep(db)
                    self._swept = True
            return db
        with self._guard:
            stale, self._stale = list(self._stale), set()
        if stale:
            self._reindex(db, stale)
        if db.info("sessions_stamp") != self.layout.sessions_stamp():
            self._sweep(db, deep=False)
        return db

    def _revision(self) -> int:
        db = self._fresh()
        with self._guard:
            after = self._cursor
        rows = db.rows(f"SELECT id, {', '.join(STAMP_FIELDS)} FROM sessions WHERE id > ? ORDER BY id LIMIT ?",
                       (after, SWEEP_SLICE))
        with self._guard:
            self._cursor = rows[-1][0] if len(rows) == SWEEP_SLICE else ""
        differ = [row[0] for row in rows if Stamps(*row[1:]) != self.layout.stamps(row[0])]
        if differ:
            self._reindex(db, differ)
        return db.generation()

    def _check_one(self, db: IndexDB, session_id: str) -> IndexDB:
        current = db.stamps_of(session_id)
        if current is None or current[0] != self.layout.stamps(session_id):
            self._reindex(db, [session_id])
        return db

    def _sync_rows(self, db: IndexDB, session_id: str) -> IndexDB:
        current = db.stamps_of(session_id)
        if current is None or current[1] == current[0].checkpoints:
            return db
        with self.lock.attempt(READER_LOCK_WAIT):
            stamp = self.layout.stamps(session_id).checkpoints
            on_disk = self.layout.checkpoint_ids(session_id)
            indexed = {r[0] for r in db.rows("SELECT id FROM checkpoints WHERE session_id = ?", (session_id,))}
            present = set(on_disk)
            new_rows = [checkpoint_row(cp) for cid in on_disk if cid not in indexed
                        if (cp := read_checkpoint_quietly(self.layout, self.files, session_id, cid)) is not None]
            with db.write() as conn:
                conn.executemany("DELETE FROM checkpoints WHERE session_id = ? AND id = ?",
                                 [(session_id, cid) for cid in indexed - present])
                IndexDB.put_checkpoints(conn, session_id, new_rows)
                conn.execute("UPDATE sessions SET rows_at = ? WHERE id = ?", (stamp, session_id))
        return db

    def _sweep_and_return(self, db: IndexDB) -> IndexDB:
        self._sweep(db)
        return db

    def _sweep(self, db: IndexDB, deep: bool = True) -> int:
        """Read again the sessions whose folder times differ from their rows; drop rows of vanished folders.

        ``deep=False`` only looks for folders added or removed (one listing, no stat per session)."""
        sessions_stamp = self.layout.sessions_stamp()
        known = db.stamps()
        on_disk = self.layout.session_ids()
        present = set(on_disk)
        gone = [sid for sid in known if sid not in present]
        if deep:
            stamps = self.layout.raw_stamps
            differ = [sid for sid in on_disk if known.get(sid) != stamps(sid)]
        else:
            differ = [sid for sid in on_disk if sid not in known]
        self._reindex(db, differ + gone)
        if db.info("sessions_stamp") != sessions_stamp:
            with db.write() as conn:
                IndexDB.set_info(conn, "sessions_stamp", sessions_stamp)
        return len(differ) + len(gone)

    def _reindex(self, db: IndexDB, session_ids: list[str]) -> None:
        # Indexing holds the writers' lock so a row is never written from files a writer is replacing.
        for start in range(0, len(session_ids), BATCH):
            with self.lock.attempt(READER_LOCK_WAIT):
                scans = [(sid, scan_session(self.layout, self.files, sid) if self.layout.has_session(sid) else None)
                         for sid in session_ids[start:start + BATCH]]
                with db.write() as conn:
                    for sid, scan in scans:
                        _store_scan(conn, sid, scan)


def _store_scan(conn: sqlite3.Connection, session_id: str, scan: SessionScan | None) -> None:
    if scan is None:
        IndexDB.drop_session(conn, session_id)
        return
    previous = conn.execute("SELECT st_checkpoints, rows_at FROM sessions WHERE id = ?", (session_id,)).fetchone()
    fields = {**scan.fields, **dict(zip(STAMP_FIELDS, scan.stamps, strict=True))}
    IndexDB.put_session(conn, session_id, fields, scan.text)
    IndexDB.put_blobs(conn, session_id, scan.blobs)
    IndexDB.put_marks(conn, session_id, scan.marks)
    if previous is None:
        conn.execute("DELETE FROM checkpoints WHERE session_id = ?", (session_id,))
