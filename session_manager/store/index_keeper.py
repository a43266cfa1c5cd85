"""index.sqlite as one process holds it: opened on demand, followed when another process replaced it,
rebuilt when damaged, and kept in memory when the disk refuses it (read-only, full)."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

from ..atomic import file_kind
from ..errors import BrokenFile, IndexBusy, StorageError
from .files import StoreFiles
from .index_db import IndexDB
from .layout import Layout

log = logging.getLogger(__name__)
T = TypeVar("T")
_SQLITE_SUFFIXES = ("-wal", "-shm", "-journal")


class IndexFile:
    """The connection to one store's index; ``on_new`` runs whenever a new (so empty or unknown) one is opened."""

    def __init__(self, layout: Layout, files: StoreFiles, on_new: Callable[[], None], use_file: bool = True) -> None:
        self.layout = layout
        self.files = files
        self.use_file = use_file
        self._on_new = on_new
        self._db: IndexDB | None = None
        self._file_id: tuple[int, int] | None = None
        self._guard = threading.RLock()

    def open(self) -> IndexDB:
        with self._guard:
            db = self._db
            if db is not None and db.path is not None and self._file_id != _file_id(db.path):
                # Another process replaced a broken index: follow it to the new file.
                db.close()
                self._db = db = None
            if db is None:
                self._db = db = self._connect()
                self._on_new()
            return db

    def guarded(self, run: Callable[[], T], quiet: bool = False) -> T:
        """Run ``run``; on an sqlite error reopen (rebuilding a damaged file) and run it again, then in memory."""
        try:
            return run()
        except sqlite3.Error as exc:
            if not self.use_file:
                raise StorageError(f"the in-memory index failed ({exc})") from exc
            self._if_busy(exc)
            self._recover(exc, quiet)
            try:
                return run()
            except sqlite3.Error as again:
                self._if_busy(again)
                if not _damaged(again) and not isinstance(again, sqlite3.OperationalError):
                    raise  # a connection closed under a caller (the store was closed): nothing is wrong on disk
                self._memory(again)
                return run()

    def _if_busy(self, exc: sqlite3.Error) -> None:
        # Another process holds the file: waiting longer, or copying it all into memory, helps no one.
        if is_busy(exc):
            raise IndexBusy(f"index.sqlite in {self.layout.root} is held by another program ({exc}); "
                            "try again in a moment (nothing was lost: the session files are the truth)") from exc

    def rebuild(self, why: str) -> None:
        """Start the index afresh from the files (doctor found it damaged in a way SQLite does not report)."""
        with self._guard:
            self.close()
            if self.use_file:
                self._report_rebuild(why)
                _remove_index_files(self.layout.index)

    def close(self) -> None:
        with self._guard:
            if self._db is not None:
                self._db.close()
                self._db = None

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

    def _recover(self, exc: sqlite3.Error, quiet: bool) -> None:
        self.close()
        if _damaged(exc):
            self._report_rebuild(f"it is damaged ({exc})")
            _remove_index_files(self.layout.index)
        elif not quiet and not isinstance(exc, sqlite3.ProgrammingError):  # not a connection closed meanwhile
            log.warning("index.sqlite failed (%s); opening it again", exc)

    def _memory(self, exc: BaseException) -> None:
        log.warning("index.sqlite cannot be used (%s); this process keeps its index in memory", exc)
        self.files.report(BrokenFile(self.layout.index, f"it cannot be used ({exc}); this run keeps its index "
                                     "in memory (nothing is lost: the session files are the truth)", None))
        self.close()
        self.use_file = False

    def _report_rebuild(self, why: str) -> None:
        log.warning("index.sqlite: %s; rebuilding it from the session files", why)
        self.files.report(BrokenFile(self.layout.index, f"{why}; it was rebuilt from the session files", None))


def _damaged(exc: sqlite3.Error) -> bool:
    # What the file holds is wrong (not a busy file, nor a connection this process closed itself).
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(
        exc, (sqlite3.OperationalError, sqlite3.ProgrammingError, sqlite3.InterfaceError))


def is_busy(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and any(word in str(exc) for word in ("locked", "busy"))


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
