"""What every part of the store shares: where things live, how files are read and written, the lock, the index.

One ``StoreCore`` per store; SessionStore hands it to each of its parts (sessions, checkpoints,
marks, KV files, autosaves), which reach each other only through what they are given.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..atomic import file_kind
from ..errors import NotFound, StorageError
from ..models import SessionMeta, is_session_id
from .catalog import Catalog
from .files import Problem, StoreFiles
from .layout import MAX_SESSION_BYTES, Layout, Stamps, is_real_dir
from .locking import StoreLock


class StoreCore:
    """The store's folders, files, cross-process lock and index, as every part uses them."""

    def __init__(self, root: Path, *, index: bool = True) -> None:
        self.root = Path(root).expanduser()
        self.layout = Layout(self.root)
        self.problems: list[Problem] = []
        self.files = StoreFiles(self.layout, self.report)
        self.lock = StoreLock(self.layout.lock)
        self.catalog = Catalog(self.layout, self.files, self.lock, use_file=index)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            _set_aside_impostors(self.layout, self.files)
            self.layout.sessions.mkdir(exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the session folder {self.layout.sessions}: {exc.strerror}") from exc

    @contextmanager
    def writing(self, session_id: str) -> Iterator[Stamps]:
        """Hold the store lock on an existing session; yields its folder times before the write."""
        with self.lock.hold():
            if not self.layout.has_session(session_id):
                raise NotFound(f"there is no session {session_id}")
            yield self.layout.stamps(session_id)

    def read_session(self, session_id: str) -> SessionMeta:
        path = self.layout.session_file(session_id)
        if not self.layout.has_session(session_id):
            raise NotFound(f"there is no session {session_id}")
        try:
            return self.files.read(path, SessionMeta, MAX_SESSION_BYTES, expected_id=session_id)
        except NotFound as exc:
            raise NotFound(f"there is no session {session_id}") from exc

    def report(self, problem: Problem) -> None:
        """A file was set aside: keep the problem for the caller, and re-read its session's index rows."""
        self.problems.append(problem)
        session_id = _session_of(self.layout, problem.path) if problem.path is not None else None
        if session_id is not None:
            self.catalog.mark_stale(session_id)


def _set_aside_impostors(layout: Layout, files: StoreFiles) -> None:
    """A link, a file or a FIFO where the store keeps its sessions or its lock is moved out of the way
    (never followed): the store then starts that place afresh."""
    if os.path.lexists(layout.sessions) and not is_real_dir(layout.sessions):
        files.set_aside(layout.sessions, f"the sessions folder is {_kind(layout.sessions)}; the store never "
                        "follows links out of itself")
    if os.path.lexists(layout.lock) and not stat.S_ISREG(os.lstat(layout.lock).st_mode):
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
