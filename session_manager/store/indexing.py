"""The work of keeping index.sqlite true to the folders: comparing folder times, reading sessions
again in batches (under the store lock, with progress), and leaving for later what another process
keeps waiting. ``Catalog`` (catalog.py) decides when and holds one ``IndexWork``; this does it."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any

from .files import StoreFiles
from .index_db import STAMP_FIELDS, IndexDB
from .index_keeper import is_busy
from .layout import Layout, Stamps
from .locking import StoreLock
from .progress import Progress
from .scan import SessionScan, checkpoint_row, read_checkpoint_quietly, scan_session

# Sessions re-read per lock hold while rebuilding: writers wait at most this long for a batch.
BATCH = 200
OPTIMIZE_AFTER = 1_000  # sessions read again in one go after which the search tables are merged
# Sessions whose folders a sweep compares with their rows at a time (their stamps are read per chunk).
SWEEP_CHUNK = 2000
# How long a reader waits for the store lock before it indexes without it (a cache row may be redone).
READER_LOCK_WAIT = 1.0


class IndexWork:
    """Sweeps and re-reads of one store's index. ``later`` takes the sessions a busy index could not
    take now, so they are read again before the next answer."""

    def __init__(self, layout: Layout, files: StoreFiles, lock: StoreLock, progress: Progress,
                 later: Callable[[list[str]], None]) -> None:
        self.layout = layout
        self.files = files
        self.lock = lock
        self.progress = progress
        self._later = later
        self._cursor = ""  # check_slice() compares the sessions after this id next
        self._cursor_guard = threading.Lock()
        self.closed = False

    def stop(self) -> None:
        """The store is closing: a sweep beside the answers stops at its next batch."""
        self.closed = True

    def check_shown(self, db: IndexDB, rows: object, up_to: str = "~") -> bool:
        """Compare the folders of these sessions (rows or ids; those with ids up to ``up_to``) with their rows;
        True when some were read again."""
        items: list[Any] = rows if isinstance(rows, list) else [rows] if rows is not None else []
        ids = [sid for item in items if (sid := item if isinstance(item, str) else item.id) <= up_to]
        if not ids:
            return False
        known = {r[0]: Stamps(*r[1:]) for start in range(0, len(ids), 500) for r in db.rows(
            f"SELECT id, {', '.join(STAMP_FIELDS)} FROM sessions WHERE id IN "
            f"({', '.join('?' for _ in ids[start:start + 500])})", ids[start:start + 500])}
        differ = [sid for sid in ids if known.get(sid) != self.layout.stamps(sid)]
        if differ:
            self.reindex(db, differ)
        return bool(differ)

    def check_one(self, db: IndexDB, session_id: str) -> IndexDB:
        current = db.stamps_of(session_id)
        if current is None or current[0] != self.layout.stamps(session_id):
            self.reindex(db, [session_id])
        return db

    def sync_rows(self, db: IndexDB, session_id: str) -> IndexDB:
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
            with unless_busy(lambda: None), db.write() as conn:
                conn.executemany("DELETE FROM checkpoints WHERE session_id = ? AND id = ?",
                                 [(session_id, cid) for cid in indexed - present])
                IndexDB.put_checkpoints(conn, session_id, new_rows)
                conn.execute("UPDATE sessions SET rows_at = ? WHERE id = ?", (stamp, session_id))
        return db

    def swept(self, db: IndexDB) -> IndexDB:
        self.sweep(db)
        return db

    def sweep(self, db: IndexDB, deep: bool = True) -> int:
        """Read again the sessions whose folder times differ from their rows; drop rows of vanished folders.

        ``deep=False`` only looks for folders added or removed (one listing, no stat per session)."""
        sessions_stamp = self.layout.sessions_stamp()
        work = self._differing(sorted(self.layout.session_ids()), db, deep)
        if self.closed:
            return 0
        self.reindex(db, work)
        if db.info("sessions_stamp") != sessions_stamp:
            with unless_busy(lambda: None), db.write() as conn:
                IndexDB.set_info(conn, "sessions_stamp", sessions_stamp)
        return len(work)

    def _differing(self, on_disk: list[str], db: IndexDB, deep: bool) -> list[str]:
        """The sessions to read again: folders whose times differ from their rows (or, not ``deep``, folders
        without a row), then rows whose folder is gone. The folders (sorted by id) are compared with the rows
        of the same ids a chunk at a time, so a sweep of 100,000 sessions never holds every row's stamps; it
        stops early once the store is closed (a sweep beside a host must not outlive it)."""
        stamps = self.layout.raw_stamps
        differ: list[str] = []
        gone: list[str] = []
        after = ""
        for start in range(0, max(1, len(on_disk)), SWEEP_CHUNK):
            if self.closed:
                break
            chunk = on_disk[start:start + SWEEP_CHUNK]
            last = chunk[-1] if chunk and start + SWEEP_CHUNK < len(on_disk) else None  # None: to the end
            known = db.stamps_between(after, last)
            differ += [sid for sid in chunk if (known.get(sid) != stamps(sid) if deep else sid not in known)]
            present = set(chunk)
            gone += [sid for sid in known if sid not in present]
            after = last or ""
        return differ + gone

    def reindex(self, db: IndexDB, session_ids: list[str]) -> None:
        # Indexing holds the writers' lock so a row is never written from files a writer is replacing.
        for start in range(0, len(session_ids), BATCH):
            if self.closed:
                return
            with self.lock.attempt(READER_LOCK_WAIT):
                scans = [(sid, scan_session(self.layout, self.files, sid) if self.layout.has_session(sid) else None)
                         for sid in session_ids[start:start + BATCH]]
                try:
                    with db.write() as conn:
                        for sid, scan in scans:
                            store_scan(conn, sid, scan)
                except sqlite3.OperationalError as exc:
                    if not is_busy(exc):
                        raise
                    # Another process holds the index: these rows are written at a later read.
                    self._later(session_ids[start:])
                    return
            if len(session_ids) > BATCH or self.progress.running:
                self.progress.step(min(start + BATCH, len(session_ids)), len(session_ids))
        if len(session_ids) >= OPTIMIZE_AFTER and not self.closed:
            # Rows written one batch at a time leave the search tables in many small pieces, each of which
            # every search then looks into; merged into one, a rare word is found in microseconds.
            with unless_busy(lambda: None), db.write() as conn:
                IndexDB.merge_search_tables(conn)

    def catch_up(self, db: IndexDB, stale: list[str], suspect: list[str], rewritten: list[str]) -> None:
        """Act on a backlog: forget the checkpoint rows of ``rewritten``, compare ``suspect`` with their
        folders, read ``stale`` again."""
        if rewritten:
            with unless_busy(lambda: None), db.write() as conn:
                conn.executemany("UPDATE sessions SET rows_at = NULL WHERE id = ?", [(sid,) for sid in rewritten])
                conn.executemany("DELETE FROM checkpoints WHERE session_id = ?", [(sid,) for sid in rewritten])
        if suspect:
            self.check_shown(db, suspect)
        if stale:
            self.reindex(db, stale)

    def check_slice(self, db: IndexDB, size: int, up_to: str = "~") -> None:
        """Compare the next ``size`` sessions (by id, up to ``up_to``) with their folders; the next call goes
        on after them."""
        with self._cursor_guard:
            after = self._cursor
        rows = db.rows(f"SELECT id, {', '.join(STAMP_FIELDS)} FROM sessions WHERE id > ? AND id <= ? "
                       "ORDER BY id LIMIT ?", (after, up_to, size))
        with self._cursor_guard:
            self._cursor = rows[-1][0] if len(rows) == size else ""
        differ = [row[0] for row in rows if Stamps(*row[1:]) != self.layout.stamps(row[0])]
        if differ:
            self.reindex(db, differ)


@contextlib.contextmanager
def unless_busy(later: Callable[[], None]) -> Iterator[None]:
    """A write another process keeps waiting is dropped after a second; ``later`` makes sure it is redone."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if not is_busy(exc):
            raise
        later()


def store_scan(conn: sqlite3.Connection, session_id: str, scan: SessionScan | None) -> None:
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
