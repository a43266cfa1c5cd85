"""Changes made to a store by other programs (an editor, a sync tool, a second textgen), as the
operating system reports them: a session is looked at again as soon as one of its files changes,
whatever the store's size, without walking every folder.

watchdog (inotify, FSEvents, ReadDirectoryChangesW) does the watching. A store with more folders than
the system lets one user watch is watched folder by folder on Linux (``folder_watches``: every session
folder, and the inner folders of as many sessions as fit; the rest are compared by folder times beside
the answers). Where neither can watch (the package missing, a network file system), ``start`` says so
and the catalog keeps comparing folder times a slice at a time instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..models import is_session_id
from .layout import CHECKPOINTS, SESSION_FILE, is_temp_name

log = logging.getLogger(__name__)

# changed(session_id, rewritten): ``rewritten`` when a file the store never rewrites in place was
# (a checkpoint, an autosave, the marks): folder times cannot show that, so the session is read again.
Changed = Callable[[str, bool], None]


class FolderWatch:
    """Reports every change below ``sessions`` as the session it belongs to."""

    def __init__(self, sessions: Path, changed: Changed, lost: Callable[[], None] = lambda: None,
                 compare: Callable[[str], None] = lambda up_to: None) -> None:
        self.sessions = os.path.abspath(sessions)
        self.changed = changed
        self.lost = lost  # the system dropped events (its queue overflowed): every folder must be compared
        self.compare = compare  # compare a slice of the sessions whose folders are not all watched
        self._observer: Any = None  # a watchdog Observer, or SessionWatches beyond the system's limit
        self._started = threading.Event()  # set once watching started or could not
        self._guard = threading.Lock()

    @property
    def running(self) -> bool:
        observer = self._observer
        return observer is not None and observer.is_alive()

    @property
    def unwatched_up_to(self) -> str:
        """The sessions with ids up to this one have folders that are not watched: "" when every folder is
        watched, "~" (every id) when nothing is."""
        observer = self._observer
        if not self.running:
            return "~"
        return str(getattr(observer, "unwatched_up_to", ""))

    def start(self) -> str:
        """"" when watching starts (in a thread of its own: a large store has many folders to watch);
        else why not. A failure later (a limit on watches) is logged and ``running`` stays False."""
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            return "the watchdog package is not installed"
        watch = self

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                watch._event(event)

        with self._guard:
            if self._observer is not None:
                return ""
            observer = self._observer = Observer()
            observer.daemon = True
            self._started.clear()
        threading.Thread(target=self._begin, args=(observer, _Handler()), name="session-manager-watch",
                         daemon=True).start()
        return ""

    def _begin(self, observer: Any, handler: Any) -> None:
        try:
            limit = _room_for(self.sessions)
            if limit:
                observer = self._by_folder(observer, limit)
            else:
                observer.schedule(handler, self.sessions, recursive=True)
            observer.start()
            with self._guard:
                stopped = self._observer is not observer
            if stopped:  # stop() came while the folders were being added
                observer.stop()
        except OSError as exc:  # e.g. the system's limit on watched folders: folder times are compared instead
            log.warning("Session Manager cannot watch %s (%s); changes made by other programs are found by "
                        "comparing folder times", self.sessions, exc)
            with self._guard:
                if self._observer is observer:
                    self._observer = None
            with contextlib.suppress(Exception):
                observer.stop()
        finally:
            self._started.set()

    def _by_folder(self, observer: Any, limit: int) -> Any:
        """The store holds more folders than the system's ``limit`` on watches: watch its session folders
        one by one instead (Linux), and the inner folders of as many sessions as fit."""
        try:
            from .folder_watches import SessionWatches, watch_budget
        except ImportError as exc:
            raise OSError(f"the system allows {limit} watched folders ({INOTIFY_LIMIT}) and the store "
                          f"holds more than {limit // FOLDERS_PER_SESSION} sessions") from exc
        try:
            watches = SessionWatches(self.sessions, watch_budget(limit), self._changed_inside, self.lost,
                                     self.compare)
        except OSError as exc:
            raise OSError(f"the system allows {limit} watched folders ({INOTIFY_LIMIT}); "
                          f"{exc.strerror or exc}") from exc
        with self._guard:
            if self._observer is not observer:  # stop() came while the folders were being added
                watches.stop()
                return observer
            self._observer = watches
        if watches.unwatched_up_to:
            log.warning("Session Manager watches %s folder by folder (%d watches, within the system's limit of %d, "
                        "%s); the checkpoint folders of the sessions up to %s are compared by their times instead "
                        "(a checkpoint file changed there alone is seen within minutes)", self.sessions,
                        watches.watched, limit, INOTIFY_LIMIT, watches.unwatched_up_to)
        return watches

    def _changed_inside(self, session_id: str, inner: list[str], written: bool) -> None:
        self.changed(session_id, written and _rewritten(inner))

    def wait_started(self, timeout: float) -> bool:
        """Wait until the watch runs (a test, a bench); False when it could not start."""
        if self._observer is None:
            return False
        self._started.wait(timeout)
        return self.running

    def stop(self) -> None:
        """Stop watching; returns at once (a watch still adding a large store's folders ends in its thread)."""
        with self._guard:
            observer, self._observer = self._observer, None
        if observer is not None:
            threading.Thread(target=_stop, args=(observer,), name="session-manager-unwatch", daemon=True).start()

    def _event(self, event: Any) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if event.event_type == "events_lost":
            self.lost()
            return
        for path in (event.src_path, getattr(event, "dest_path", "")):
            found = self._session_of(os.fsdecode(path)) if path else None
            if found is not None:
                session_id, inner = found
                self.changed(session_id, event.event_type in ("modified", "closed") and _rewritten(inner))

    def _session_of(self, path: str) -> tuple[str, list[str]] | None:
        relative = os.path.relpath(path, self.sessions)
        parts = relative.split(os.sep)
        if not parts or not is_session_id(parts[0]):
            return None
        return parts[0], parts[1:]


INOTIFY_LIMIT = Path("/proc/sys/fs/inotify/max_user_watches")
FOLDERS_PER_SESSION = 2  # the session's own and its checkpoints'
MOST_FOLDERS_PER_SESSION = 4  # ... and its KV and autosaves folders


def _room_for(sessions: str) -> int:
    """0 when the store can be watched whole; else the system's limit on watched folders, found at once:
    adding folders one by one until the limit says no would cost a large store seconds and hundreds of MB."""
    try:
        limit = int(INOTIFY_LIMIT.read_text())
    except (OSError, ValueError):
        return 0  # not Linux, or the limit is not readable: try, and fall back if it fails
    with os.scandir(sessions) as entries:
        names = [entry.name for entry in entries]
    if 1 + len(names) * FOLDERS_PER_SESSION > limit:
        return limit
    if 1 + len(names) * MOST_FOLDERS_PER_SESSION <= limit:
        return 0
    # Close to the limit: count the folders (a store whose sessions have KV and autosave folders needs more).
    needed = 1 + sum(_folders_in(os.path.join(sessions, name)) for name in names)
    return limit if needed > limit else 0


def _folders_in(folder: str) -> int:
    """The folders a recursive watch of ``folder`` takes: itself and those inside (sessions hold no deeper)."""
    try:
        with os.scandir(folder) as entries:
            return 1 + sum(1 for entry in entries if entry.is_dir(follow_symlinks=False))
    except OSError:
        return 0


def _rewritten(inner: list[str]) -> bool:
    """A file changed in place that the store only ever replaces whole (so its folder's time stays)."""
    if not inner or is_temp_name(inner[-1]) or not inner[-1].endswith(".json") or inner == [SESSION_FILE]:
        return False
    return len(inner) == 1 or inner[0] == CHECKPOINTS


def _stop(observer: Any) -> None:
    with contextlib.suppress(Exception):
        observer.stop()
        observer.join(timeout=10)
