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

import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeVar

from .atomic import file_kind
from .errors import BrokenFile, StorageError
from .files import StoreFiles
from .index import STALE, STAMP_FIELDS, IndexDB
from .layout import Layout, Stamps
from .locking import StoreLock
from .scan import SessionScan, checkpoint_row, read_checkpoint_quietly, scan_session

log = logging.getLogger(__name__)
T = TypeVar("T")

# Sessions re-read per lock hold while rebuilding: writers wait at most this long for a batch.
BATCH = 200
# Sessions whose times one revision() call compares (a whole store is covered every few calls).
SWEEP_SLICE = 2000
_SQLITE_SUFFIXES = ("-wal", "-shm", "-journal")
# How long a reader waits for the store lock before it indexes without it (a cache row may be redone).
READER_LOCK_WAIT = 5.0


class Catalog:
    """The index of one store, as seen by one process."""

    def __init__(self, layout: Layout, files: StoreFiles, lock: StoreLock, *, use_file: bool = True) -> None:
        self.layout = layout
        self.files = files
        self.lock = lock
        self.use_file = use_file
        self._db: IndexDB | None = None
        self._file_id: tuple[int, int] | None = None
        self._guard = threading.RLock()  # the connection and this process's bookkeeping, never held long
        self._first_sweep = threading.Lock()
        self._swept = False
        self._cursor = 0
        self._stale: set[str] = set()

    # ----- reading ---------------------------------------------------------------------------

    def query(self, run: Callable[[IndexDB], T]) -> T:
        """Run a read on a fresh index; a broken index is rebuilt and the read tried again."""
        return self._guarded(lambda: run(self._fresh()))

    def refresh(self) -> int:
        """Compare every session folder with the index now; returns how many sessions were read again."""
        return self._guarded(lambda: self._sweep(self._fresh(), None))

    def revision(self) -> int:
        """The index's generation after a cheap look at the folders (a slice of them per call)."""
        return self._guarded(self._revision)

    def session_fresh(self, session_id: str) -> IndexDB:
        """The index with this one session compared with its folder (a picker about to show it)."""
        return self._guarded(lambda: self._check_one(self._fresh(), session_id))

    def checkpoint_rows(self, session_id: str) -> IndexDB:
        """The index with this session's checkpoint rows complete (only files new since the last time are read)."""
        return self._guarded(lambda: self._sync_rows(self._check_one(self._fresh(), session_id), session_id))

    def swept(self) -> IndexDB:
        """The index with every folder compared (before KV eviction counts the blobs)."""
        return self._guarded(lambda: self._sweep_and_return(self._fresh()))

    # ----- writing (the caller holds the store lock and has written the files) -----------------

    def changed(self, session_id: str, before: Stamps, change: Callable[[sqlite3.Connection], None], *,
                rows: list[tuple[Any, ...]] | None = None, kv_rescanned: bool = False) -> None:
        """Apply what a write did. Rows stay trusted only if nothing else changed the folder before it."""
        after = self.layout.stamps(session_id)

        def apply() -> None:
            db = self._open()
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

        self._guarded(apply, quiet=True)

    def reread(self, *session_ids: str) -> None:
        """Read these sessions again from their files (after a change too complex to apply by hand)."""
        self._guarded(lambda: self._reindex(self._open(), list(session_ids)), quiet=True)

    def sessions_moved(self, before: int) -> None:
        """A session folder was added or removed by the store: keep the sessions/ time in step."""
        after = self.layout.sessions_stamp()

        def apply() -> None:
            db = self._open()
            if db.info("sessions_stamp") == before:
                with db.write() as conn:
                    IndexDB.set_info(conn, "sessions_stamp", after)

        self._guarded(apply, quiet=True)

    def mark_stale(self, session_id: str) -> None:
        """A file of this session was set aside while reading: read it again before the next answer."""
        with self._guard:
            self._stale.add(session_id)

    def close(self) -> None:
        with self._guard:
            if self._db is not None:
                self._db.close()
                self._db = None

    # ----- freshness -------------------------------------------------------------------------

    def _fresh(self) -> IndexDB:
        db = self._open()
        if not self._swept:
            with self._first_sweep:
                if not self._swept:
                    self._sweep(db, None)
                    self._swept = True
            return db
        with self._guard:
            stale, self._stale = list(self._stale), set()
        if stale:
            self._reindex(db, stale)
        if db.info("sessions_stamp") != self.layout.sessions_stamp():
            self._sweep(db, None, deep=False)
        return db

    def _revision(self) -> int:
        db = self._fresh()
        ids = sorted(db.stamps())
        if ids:
            with self._guard:
                start = self._cursor % len(ids)
                self._cursor = start + SWEEP_SLICE
            self._sweep(db, ids[start:start + SWEEP_SLICE])
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
        self._sweep(db, None)
        return db

    def _sweep(self, db: IndexDB, only: list[str] | None, deep: bool = True) -> int:
        """Read again the sessions whose folder times differ from their rows; drop rows of vanished folders."""
        sessions_stamp = self.layout.sessions_stamp()
        known = db.stamps()
        if only is None:
            on_disk = self.layout.session_ids()
            present = set(on_disk)
            gone = [sid for sid in known if sid not in present]
        else:
            on_disk = [sid for sid in only if self.layout.has_session(sid)]
            present = set(on_disk)
            gone = [sid for sid in only if sid not in present]
        if deep:
            differ = [sid for sid in on_disk if known.get(sid) != self.layout.stamps(sid)]
        else:
            differ = [sid for sid in on_disk if sid not in known]
        self._reindex(db, differ + gone)
        if only is None and db.info("sessions_stamp") != sessions_stamp:
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

    # ----- the database file -------------------------------------------------------------------

    def _open(self) -> IndexDB:
        with self._guard:
            db = self._db
            if db is not None and db.path is not None and self._file_id != _file_id(db.path):
                # Another process replaced a broken index: follow it to the new file.
                db.close()
                self._db = db = None
                self._swept = False
            if db is None:
                self._db = db = self._connect()
            return db

    def _connect(self) -> IndexDB:
        if not self.use_file:
            return IndexDB(None)
        path = self.layout.index
        for part in (path, *(Path(f"{path}{suffix}") for suffix in _SQLITE_SUFFIXES)):
            # sqlite would write through a link, out of the store: such a file is set aside first.
            if os.path.lexists(part) and not stat.S_ISREG(os.lstat(part).st_mode):
                self.files.set_aside(part, f"the index file is {file_kind(os.lstat(part).st_mode)}")
        try:
            db = IndexDB(path)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            self._report_rebuild(f"it could not be opened ({exc})")
            _remove_index_files(path)
            db = IndexDB(path)
        self._file_id = _file_id(path)
        return db

    def _guarded(self, run: Callable[[], T], quiet: bool = False) -> T:
        try:
            return run()
        except sqlite3.Error as exc:
            if not self.use_file:
                raise StorageError(f"the in-memory index failed ({exc})") from exc
            self._recover(exc, quiet)
            try:
                return run()
            except sqlite3.Error as again:
                self._memory(again)
                return run()

    def _recover(self, exc: sqlite3.Error, quiet: bool) -> None:
        with self._guard:
            if self._db is not None:
                self._db.close()
                self._db = None
            self._swept = False
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
            self._report_rebuild(f"it is damaged ({exc})")
            _remove_index_files(self.layout.index)
        elif not quiet:
            log.warning("index.sqlite failed (%s); opening it again", exc)

    def _memory(self, exc: BaseException) -> None:
        log.warning("index.sqlite cannot be used (%s); this process keeps its index in memory", exc)
        self.files.report(BrokenFile(self.layout.index, f"it cannot be used ({exc}); this run keeps its index "
                                     "in memory (nothing is lost: the session files are the truth)", None))
        with self._guard:
            if self._db is not None:
                self._db.close()
            self.use_file = False
            self._db = None
            self._swept = False

    def _report_rebuild(self, why: str) -> None:
        log.warning("index.sqlite: %s; rebuilding it from the session files", why)
        self.files.report(BrokenFile(self.layout.index, f"{why}; it was rebuilt from the session files", None))


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


def _file_id(path: os.PathLike[str]) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _remove_index_files(path: os.PathLike[str]) -> None:
    for suffix in ("", *_SQLITE_SUFFIXES):
        with suppress(OSError):
            os.unlink(f"{os.fspath(path)}{suffix}")
