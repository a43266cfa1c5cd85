"""Linux watches of single folders, for a store with more folders than the system lets one user watch.

Watching a store whole takes a watch for every folder: two or more per session. Past the system's
limit (``fs.inotify.max_user_watches``), every session folder is still watched (session.json,
autosave.json and marks.json edited or replaced, a folder added, replaced or removed), and the inner
folders (checkpoints/, kv/, autosaves/) of the newest sessions as far as the limit allows. The inner
folders of older sessions are compared by their times beside the answers (``unwatched_up_to``): a
checkpoint file added or removed there by another program alone is seen within minutes, not seconds.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable

from inotify_simple import INotify, flags

from ..models import is_session_id
from .layout import AUTOSAVES, CHECKPOINTS, KV

log = logging.getLogger(__name__)

INNER_FOLDERS = (CHECKPOINTS, KV, AUTOSAVES)
# Part of the system's limit left to other programs of the same user (an editor, a sync tool).
SPARE_SHARE = 10
# How often the inner folders that are not watched are compared, a slice at a time (seconds).
COMPARE_EVERY = 3.0
READ_WAIT_MS = 500  # how long one wait for events lasts (and so how soon ``stop`` is heeded)

_NOT_THERE = (errno.ENOENT, errno.ENOTDIR)
_ROOT_MASK = flags.CREATE | flags.DELETE | flags.MOVED_FROM | flags.MOVED_TO | flags.ONLYDIR | flags.DONT_FOLLOW
_FOLDER_MASK = (_ROOT_MASK | flags.MODIFY | flags.CLOSE_WRITE | flags.ATTRIB | flags.DELETE_SELF
                | flags.MOVE_SELF)
_ARRIVED = flags.CREATE | flags.MOVED_TO
_WRITTEN = flags.MODIFY | flags.CLOSE_WRITE

# changed(session_id, inner, written): a file or folder of the session changed; ``inner`` is its path
# inside the session folder ([] for the folder itself), ``written`` True when a file was written in place.
Changed = Callable[[str, list[str], bool], None]


def watch_budget(limit: int) -> int:
    """How many folders this process may watch under the system's limit."""
    return limit - limit // SPARE_SHARE


class SessionWatches(threading.Thread):
    """The store's session folders watched one by one, in a thread that reports what changed."""

    def __init__(self, sessions: str, budget: int, changed: Changed, lost: Callable[[], None],
                 compare: Callable[[str], None]) -> None:
        super().__init__(name="session-manager-folder-watches", daemon=True)
        self.sessions = sessions
        self.changed = changed
        self.lost = lost  # the system dropped events: every folder must be compared
        self.compare = compare  # compare the next slice of sessions with ids up to the one given
        self.unwatched_up_to = ""  # the inner folders of sessions with ids up to this one are not watched
        self._left = budget
        # watch -> session id ("" for the sessions folder); watch -> inner folder. Two flat maps, not one
        # of pairs: 170,000 watches hold 10 MB less.
        self._session_of: dict[int, str] = {}
        self._inner_of: dict[int, str] = {}
        self._stopping = threading.Event()
        self._inotify = INotify()
        try:
            self._add_all()
        except BaseException:
            self._inotify.close()
            raise

    @property
    def watched(self) -> int:
        return len(self._session_of)

    def stop(self) -> None:
        self._stopping.set()
        if not self.is_alive() and not self._inotify.closed:  # never started; else the thread closes them
            self._inotify.close()

    # ----- adding watches ----------------------------------------------------------------------

    def _add_all(self) -> None:
        """The sessions folder and every session folder, then the inner folders of the newest sessions;
        OSError when even the session folders do not fit."""
        names = sorted((name for name in os.listdir(self.sessions) if is_session_id(name)), reverse=True)
        if len(names) + 1 > self._left:
            raise OSError(errno.ENOSPC, f"the store's {len(names)} session folders need more than the "
                                        f"{self._left} watches this process may add")
        self._add(self.sessions, "", "", _ROOT_MASK)
        for name in names:
            self._add(os.path.join(self.sessions, name), name, "", _FOLDER_MASK)
        for name in names:
            if not self._add_inner(name):
                self.unwatched_up_to = name  # it and every older session: compared by folder times
                break

    def _add(self, path: str, session_id: str, inner: str, mask: int) -> bool:
        """Watch one folder; False when it is not there (gone since it was listed) or not a folder."""
        try:
            watch = self._inotify.add_watch(path, mask)
        except OSError as exc:
            if exc.errno in _NOT_THERE:
                return False
            raise
        if watch not in self._session_of:
            self._left -= 1
        self._session_of[watch] = session_id
        if inner:
            self._inner_of[watch] = inner
        return True

    def _add_inner(self, session_id: str, names: tuple[str, ...] = INNER_FOLDERS) -> bool:
        """Watch a session's inner folders that exist; False when the budget or the system says no."""
        folder = os.path.join(self.sessions, session_id)
        for name in names:
            if self._left <= 0:
                if os.path.isdir(os.path.join(folder, name)):
                    return False
                continue
            try:
                self._add(os.path.join(folder, name), session_id, name, _FOLDER_MASK)
            except OSError as exc:  # the system's limit, reached by other programs' watches; or no access
                if exc.errno == errno.ENOSPC:
                    self._left = 0
                return False
        return True

    def _not_watched(self, session_id: str) -> None:
        self.unwatched_up_to = max(self.unwatched_up_to, session_id)

    # ----- events ------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            compared_at = time.monotonic()  # the host compares every folder once at its start anyway
            while not self._stopping.is_set():
                for event in self._inotify.read(timeout=READ_WAIT_MS):
                    self._event(event.wd, event.mask, event.name)
                now = time.monotonic()
                if self.unwatched_up_to and now - compared_at >= COMPARE_EVERY:
                    compared_at = now
                    self._compare()
        except Exception:  # a watch that fails says so; the host then compares folder times
            log.exception("Session Manager stopped watching %s", self.sessions)
        finally:
            self._inotify.close()

    def _compare(self) -> None:
        try:
            self.compare(self.unwatched_up_to)
        except Exception:  # the index is being closed, or a broken one rebuilt: the next turn tries again
            if not self._stopping.is_set():
                log.exception("Session Manager could not compare the folders it does not watch")

    def _event(self, watch: int, mask: int, name: str) -> None:
        if mask & flags.Q_OVERFLOW:
            self.lost()
            return
        if mask & flags.IGNORED:  # the folder is gone: its watch with it
            self._inner_of.pop(watch, None)
            if self._session_of.pop(watch, None) is not None:
                self._left += 1
            return
        session_id = self._session_of.get(watch)
        if session_id is None:
            return
        inner = self._inner_of.get(watch, "")
        arrived_folder = bool(mask & _ARRIVED) and bool(mask & flags.ISDIR)
        if not session_id:  # the sessions folder: a session folder came or went
            if is_session_id(name):
                if arrived_folder:
                    self._arrived(name)
                self.changed(name, [], False)
            return
        if not name:  # the watched folder itself (deleted, moved, its times changed)
            self.changed(session_id, [inner] if inner else [], False)
            return
        if arrived_folder and not inner and name in INNER_FOLDERS and not self._add_inner(session_id, (name,)):
            self._not_watched(session_id)
        self.changed(session_id, [inner, name] if inner else [name], bool(mask & _WRITTEN))

    def _arrived(self, session_id: str) -> None:
        """A session folder added (or put back) while watching: watched like the others when there is room,
        else compared by its folder times with the older ones."""
        try:
            if self._left <= 0:
                raise OSError(errno.ENOSPC, "no watches left")
            if not self._add(os.path.join(self.sessions, session_id), session_id, "", _FOLDER_MASK):
                return  # gone again
        except OSError:
            self._not_watched(session_id)
            return
        if not self._add_inner(session_id):
            self._not_watched(session_id)

