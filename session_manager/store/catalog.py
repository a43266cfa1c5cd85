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

from .backlog import Backlog
from .files import StoreFiles
from .index_db import STALE, STAMP_FIELDS, IndexDB
from .index_keeper import IndexFile
from .indexing import IndexWork, store_scan, unless_busy
from .layout import Layout, Stamps
from .locking import StoreLock
from .progress import Progress
from .rowcheck import unreadable
from .scan import SessionScan
from .watching import FolderWatch

T = TypeVar("T")

# Sessions whose times one revision() call compares (a whole store is covered every few calls).
SWEEP_SLICE = 1000
# Up to this many sessions, the first read in a process compares every folder before it answers.
SYNC_SWEEP_MAX = 5_000


class Catalog:
    """The index of one store, as seen by one process: decides when its ``work`` compares and re-reads."""

    def __init__(self, layout: Layout, files: StoreFiles, lock: StoreLock, *, use_file: bool = True) -> None:
        self.layout = layout
        self.files = files
        self.file = IndexFile(layout, files, self._forget_sweep, use_file)
        self._first_sweep = threading.Lock()
        self._swept = False  # the first look at the folders is done
        self._trusted = False  # ... and it compared every folder (else each page shown is checked)
        self.backlog = Backlog()  # sessions looked at again before the next answer
        self.background = False  # long-running process: whole-store sweeps run beside the answers
        self.progress = Progress()
        self.work = IndexWork(layout, files, lock, self.progress, self.backlog.stale)
        self.watch = FolderWatch(layout.sessions, self.backlog.seen, self._events_lost, self._compare_unwatched)

    # ----- reading ---------------------------------------------------------------------------

    def query(self, run: Callable[[IndexDB], T]) -> T:
        """Run a read on a fresh index; a broken index is rebuilt and the read tried again."""
        return self.file.guarded(lambda: run(self._fresh()))

    def query_sessions(self, run: Callable[[IndexDB], T]) -> T:
        """A read of session rows that never hands out a wrong row: until every folder has been compared
        in this process, the rows shown are compared with theirs; a row that does not validate (an index
        changed by hand, a damaged page) is read again from its folder, and left out if it still fails."""
        rows = self.query(run)
        # A long-running host checks what it shows of the folders it does not watch, at every answer.
        up_to = "~" if not self._trusted else self.watch.unwatched_up_to if self.background else ""
        check = self.work.check_shown
        if up_to and self.file.guarded(lambda: check(self.file.open(), rows, up_to)):
            rows = self.query(run)
        bad = unreadable(rows)  # type: ignore[arg-type]  # run gives session rows: one, a list or None
        if not bad:
            return rows
        self.reread(*bad)
        rows = self.query(run)
        still = set(unreadable(rows))  # type: ignore[arg-type]  # run gives session rows: one, a list or None
        if isinstance(rows, list):
            return [row for row in rows if row.id not in still]  # type: ignore[return-value]  # still a T
        return None if still else rows  # type: ignore[return-value]  # None: the one row is unreadable

    def watch_folders(self) -> str:
        """Follow outside changes as the system reports them, and sweep beside the answers (a long-running
        process); "" when watching, else why not (changes are then found by comparing folder times)."""
        self.background = True
        return self.watch.start()

    def refresh(self) -> int:
        """Compare every session folder with the index now; returns how many sessions were read again."""
        return self.file.guarded(lambda: self.work.sweep(self._fresh()))

    def revision(self) -> int:
        """The index's generation after a cheap look at the folders (a slice of them per call)."""
        return self.file.guarded(self._revision)

    def session_fresh(self, session_id: str) -> IndexDB:
        """The index with this one session compared with its folder (a picker about to show it)."""
        return self.file.guarded(lambda: self.work.check_one(self._fresh(), session_id))

    def checkpoint_rows(self, session_id: str) -> IndexDB:
        """The index with this session's checkpoint rows complete (only files new since the last time are read)."""
        work = self.work
        return self.file.guarded(lambda: work.sync_rows(work.check_one(self._fresh(), session_id), session_id))

    def swept(self) -> IndexDB:
        """The index with every folder compared (before KV eviction counts the blobs)."""
        return self.file.guarded(lambda: self.work.swept(self._fresh()))

    # ----- writing (the caller holds the store lock and has written the files) -----------------

    def changed(self, session_id: str, before: Stamps, change: Callable[[sqlite3.Connection], None], *,
                rows: list[tuple[Any, ...]] | None = None, kv_rescanned: bool = False, added_bytes: int = 0) -> None:
        """Apply what a write did. Rows stay trusted only if nothing else changed the folder before it.
        ``added_bytes``: the size of a checkpoint file the write added (the size on disk follows)."""
        after = self.layout.stamps(session_id)
        small = self.layout.small_bytes(session_id)  # bounded: the checkpoints are not measured again

        def apply() -> None:
            db = self.file.open()
            current = db.stamps_of(session_id)
            if current is None:
                self.work.reindex(db, [session_id])
                return
            stamps, rows_at = current
            new = [a if b == s else STALE for a, b, s in zip(after, before, stamps, strict=True)]
            if kv_rescanned:
                new[4] = after.kv
            trusted = rows_at is not None and rows_at == before.checkpoints == stamps.checkpoints
            with unless_busy(lambda: self.mark_stale(session_id)), db.write() as conn:
                change(conn)
                conn.execute("UPDATE sessions SET checkpoint_bytes = checkpoint_bytes + ?, "
                             "disk_bytes = checkpoint_bytes + ? + kv_bytes + ? WHERE id = ?",
                             (added_bytes, added_bytes, small, session_id))
                if rows and trusted:
                    IndexDB.put_checkpoints(conn, session_id, rows)
                new_rows_at = after.checkpoints if trusted else rows_at
                conn.execute(f"UPDATE sessions SET {', '.join(f'{f} = ?' for f in STAMP_FIELDS)}, rows_at = ? "
                             "WHERE id = ?", (*new, new_rows_at, session_id))

        self.file.guarded(apply, quiet=True)

    def reread(self, *session_ids: str) -> None:
        """Read these sessions again from their files (after a change too complex to apply by hand)."""
        self.file.guarded(lambda: self.work.reindex(self.file.open(), list(session_ids)), quiet=True)

    def added(self, scans: list[tuple[str, SessionScan]]) -> None:
        """Sessions this process has just put in place, indexed from what it wrote (no file read back)."""

        def apply() -> None:
            with self.file.open().write() as conn:
                for session_id, scan in scans:
                    store_scan(conn, session_id, scan)

        self.file.guarded(apply, quiet=True)

    def sessions_moved(self, before: int) -> None:
        """A session folder was added or removed by the store: keep the sessions/ time in step."""
        after = self.layout.sessions_stamp()

        def apply() -> None:
            db = self.file.open()
            if db.info("sessions_stamp") == before:
                with unless_busy(lambda: None), db.write() as conn:
                    IndexDB.set_info(conn, "sessions_stamp", after)

        self.file.guarded(apply, quiet=True)

    def mark_stale(self, session_id: str) -> None:
        """A file of this session was set aside while reading: read it again before the next answer."""
        self.backlog.stale([session_id])

    def close(self) -> None:
        self.work.stop()
        self.watch.stop()
        self.file.close()

    def _forget_sweep(self) -> None:
        # A new index (fresh, rebuilt or in memory) has not been compared with the folders yet.
        self._swept = self._trusted = False

    # ----- freshness -------------------------------------------------------------------------

    def _fresh(self) -> IndexDB:
        db = self.file.open()
        if not self._swept:
            self._first_look(db)
        self.work.catch_up(db, *self.backlog.take())
        if not self.progress.running and db.info("sessions_stamp") != self.layout.sessions_stamp():
            self.work.sweep(db, deep=False)
        return db

    def _first_look(self, db: IndexDB) -> None:
        """Compare every folder at once in a small store; in a large one, sweep beside the answers
        (a long-running process) or check only the rows each answer shows (a command)."""
        with self._first_sweep:
            if self._swept:
                return
            indexed = db.value("SELECT count(*) FROM sessions") or 0
            unchanged = self.layout.sessions_stamp() == db.info("sessions_stamp")
            big = indexed > SYNC_SWEEP_MAX or (not unchanged and len(self.layout.session_ids()) > SYNC_SWEEP_MAX)
            if big and self.background:
                self.progress.start(self._sweep_beside, self._swept_all)
            elif not big or not indexed:
                self.work.sweep(db)  # a small store, or a command's new index (its rebuild shows progress)
                self._trusted = True
            self._swept = True

    def _events_lost(self) -> None:
        # The watch missed changes (the system's event queue overflowed): compare every folder, beside the answers.
        if not self.progress.running and not self.work.closed:
            self.progress.start(self._sweep_beside, self._swept_all)

    def _compare_unwatched(self, up_to: str) -> None:
        # Called by the watch, in its thread, every few seconds while some folders are not watched.
        if not self.work.closed and not self.progress.running:
            self.file.guarded(lambda: self.work.check_slice(self.file.open(), SWEEP_SLICE, up_to=up_to))

    def _sweep_beside(self) -> None:
        try:
            self.file.guarded(lambda: None if self.work.closed else self.work.sweep(self.file.open()))
        except sqlite3.ProgrammingError:
            if not self.work.closed:  # closing the store ends its sweep; anything else is a fault
                raise

    def _swept_all(self) -> None:
        self._trusted = True

    def _revision(self) -> int:
        db = self._fresh()
        if self.watch.running or self.progress.running:
            # The system reports changes (folders it cannot watch are compared in the watch's thread),
            # or the first sweep is on its way.
            return db.generation()
        self.work.check_slice(db, SWEEP_SLICE)
        return db.generation()
