"""The one description of where things live under a store's root, and what a file name means.

    <root>/sessions/<session-id>/session.json
    <root>/sessions/<session-id>/checkpoints/<checkpoint-id>.json   immutable
    <root>/sessions/<session-id>/autosave.json                      rolling: the newest autosave
    <root>/sessions/<session-id>/autosaves/<checkpoint-id>.json     the autosaves before it (newest 100)
    <root>/sessions/<session-id>/marks.json                         pins, notes, labels
    <root>/sessions/<session-id>/kv/<checkpoint-id>.kv              KV-state blob
    <root>/broken/                                                  files set aside, with why
    <root>/index.sqlite                                             a cache, rebuilt from the files
    <root>/.lock                                                    serialises writers across processes
    <root>/.lock.holder                                             pid and command of its last holder

Every path is built from validated ids, so a name typed by a user never becomes a path. The
store only ever follows real folders: a link anywhere below the root is treated as a file
that is not the store's, so nothing outside the store is read, moved or deleted through it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

from ..errors import InvalidId
from ..models import is_checkpoint_id, is_session_id

SESSIONS = "sessions"
BROKEN = "broken"
INDEX = "index.sqlite"
LOCK = ".lock"
SESSION_FILE = "session.json"
AUTOSAVE_FILE = "autosave.json"
MARKS_FILE = "marks.json"
CHECKPOINTS = "checkpoints"
AUTOSAVES = "autosaves"
KV = "kv"
SETTINGS_FILE = "settings.json"
# What belongs in a session folder; anything else there is not the store's.
SESSION_ENTRIES = frozenset({SESSION_FILE, AUTOSAVE_FILE, AUTOSAVES, MARKS_FILE, CHECKPOINTS, KV})
# Folders in <root> of work in progress: a session being deleted, one being put together.
DELETING = ".deleting-"
STAGING = ".staging-"

# The largest file each reader accepts; anything bigger is damage or a hostile file.
MAX_SESSION_BYTES = 4 << 20
MAX_CHECKPOINT_BYTES = 256 << 20  # long chats with every swipe
MAX_MARKS_BYTES = 32 << 20
MAX_SETTINGS_BYTES = 1 << 20

_SEP_SESSION_FILE, _SEP_CHECKPOINTS, _SEP_KV = (os.sep + name for name in (SESSION_FILE, CHECKPOINTS, KV))
MISSING = -1  # a stamp of something that is not there
NOT_A_DIR = -2  # a stamp of something that should be a folder and is not


class Stamps(NamedTuple):
    """Modification times that change whenever the store or a person changes a session's files.

    ``folder`` moves when session.json, autosave.json or marks.json is replaced (a rename),
    ``meta`` and ``meta_size`` when session.json is edited in place, ``checkpoints`` and
    ``kv`` when a checkpoint or a blob is added or removed.
    """

    folder: int
    meta: int
    meta_size: int
    checkpoints: int
    kv: int


def checkpoint_file_name(checkpoint_id: str) -> str:
    return f"{checkpoint_id}.json"


def kv_file_name(checkpoint_id: str) -> str:
    return f"{checkpoint_id}.kv"


def checkpoint_id_of(name: str) -> str | None:
    """The checkpoint id a file name in checkpoints/ stands for, or None."""
    stem = name[:-5] if name.endswith(".json") else ""
    return stem if is_checkpoint_id(stem) else None


def kv_id_of(name: str) -> str | None:
    """The checkpoint id a file name in kv/ stands for, or None."""
    stem = name[:-3] if name.endswith(".kv") else ""
    return stem if is_checkpoint_id(stem) else None


def is_temp_name(name: str) -> bool:
    # Atomic writes name their temp files ".<target>.<random>.tmp".
    return name.startswith(".") and name.endswith(".tmp")


@dataclass(frozen=True)
class Layout:
    """Paths of one store. Session and checkpoint ids are validated before any path is built."""

    root: Path

    @property
    def sessions(self) -> Path:
        return self.root / SESSIONS

    @property
    def broken(self) -> Path:
        return self.root / BROKEN

    @property
    def index(self) -> Path:
        return self.root / INDEX

    @property
    def lock(self) -> Path:
        return self.root / LOCK

    def session(self, session_id: str) -> Path:
        if not is_session_id(session_id):
            raise InvalidId(f"{session_id!r} is not a session id")
        return self.sessions / session_id

    def session_file(self, session_id: str) -> Path:
        return self.session(session_id) / SESSION_FILE

    def autosave(self, session_id: str) -> Path:
        return self.session(session_id) / AUTOSAVE_FILE

    def marks(self, session_id: str) -> Path:
        return self.session(session_id) / MARKS_FILE

    def checkpoints(self, session_id: str) -> Path:
        return self.session(session_id) / CHECKPOINTS

    def checkpoint(self, session_id: str, checkpoint_id: str) -> Path:
        return self.checkpoints(session_id) / checkpoint_file_name(self._checked(checkpoint_id))

    def autosaves(self, session_id: str) -> Path:
        return self.session(session_id) / AUTOSAVES

    def autosave_entry(self, session_id: str, checkpoint_id: str) -> Path:
        return self.autosaves(session_id) / checkpoint_file_name(self._checked(checkpoint_id))

    def kv_dir(self, session_id: str) -> Path:
        return self.session(session_id) / KV

    def kv(self, session_id: str, checkpoint_id: str) -> Path:
        return self.kv_dir(session_id) / kv_file_name(self._checked(checkpoint_id))

    # ----- what is on disk ------------------------------------------------------------------

    def session_ids(self) -> list[str]:
        """Ids of the real session folders (links and stray entries are not sessions)."""
        if not is_real_dir(self.sessions):
            return []
        try:
            entries = list(os.scandir(self.sessions))
        except OSError:
            return []
        return [e.name for e in entries if is_session_id(e.name) and e.is_dir(follow_symlinks=False)]

    def has_session(self, session_id: str) -> bool:
        return is_real_dir(self.sessions) and is_real_dir(self.session(session_id))

    def checkpoint_ids(self, session_id: str) -> list[str]:
        """Newest first; ids sort by time, so no file is opened."""
        return self._ids_in(session_id, self.checkpoints(session_id))

    def autosave_ids(self, session_id: str) -> list[str]:
        """The autosave history's ids, newest first."""
        return self._ids_in(session_id, self.autosaves(session_id))

    def _ids_in(self, session_id: str, folder: Path) -> list[str]:
        if not self.has_session(session_id) or not is_real_dir(folder):
            return []
        try:
            names = os.listdir(folder)
        except OSError:
            return []
        return sorted((cid for cid in map(checkpoint_id_of, names) if cid), reverse=True)

    def kv_sizes(self, session_id: str) -> dict[str, int]:
        """checkpoint id -> size of each regular blob file (a folder or link named like one is not a blob)."""
        folder = self.kv_dir(session_id)
        if not self.has_session(session_id) or not is_real_dir(folder):
            return {}
        sizes = {}
        try:
            for entry in os.scandir(folder):
                checkpoint_id = kv_id_of(entry.name)
                if checkpoint_id and entry.is_file(follow_symlinks=False):
                    sizes[checkpoint_id] = entry.stat(follow_symlinks=False).st_size
        except OSError:
            return sizes
        return sizes

    def checkpoint_bytes(self, session_id: str) -> int:
        """Size of the session's checkpoint files (one stat each: a full read of the session only)."""
        return _sizes_in(self.checkpoints(session_id), checkpoint_id_of) if self.has_session(session_id) else 0

    def small_bytes(self, session_id: str) -> int:
        """Size of everything of the session but its checkpoints and KV blobs: session.json, autosave.json,
        marks.json and the autosave history (at most 100 files, so a write can measure it each time)."""
        if not self.has_session(session_id):
            return 0
        folder = self.session(session_id)
        total = 0
        for name in (SESSION_FILE, AUTOSAVE_FILE, MARKS_FILE):
            info = _lstat(folder / name)
            total += info.st_size if info is not None and stat.S_ISREG(info.st_mode) else 0
        return total + _sizes_in(folder / AUTOSAVES, checkpoint_id_of)

    def stamps(self, session_id: str) -> Stamps:
        if not is_session_id(session_id):
            raise InvalidId(f"{session_id!r} is not a session id")
        return Stamps(*self.raw_stamps(session_id))

    def raw_stamps(self, session_id: str) -> tuple[int, int, int, int, int]:
        """``stamps`` as a plain tuple, for an id already known to be valid (a sweep makes 10,000 of them:
        plain strings and no Path objects, which cost more than the four stats)."""
        folder = f"{self._sessions_prefix}{session_id}"
        try:
            info = os.lstat(folder)
            stamp = info.st_mtime_ns if stat.S_ISDIR(info.st_mode) else NOT_A_DIR
        except OSError:
            return MISSING, MISSING, MISSING, MISSING, MISSING
        try:
            meta = os.lstat(f"{folder}{_SEP_SESSION_FILE}")
            meta_stamp, meta_size = meta.st_mtime_ns, meta.st_size
        except OSError:
            meta_stamp = meta_size = MISSING
        return stamp, meta_stamp, meta_size, _dir_stamp(f"{folder}{_SEP_CHECKPOINTS}"), _dir_stamp(f"{folder}{_SEP_KV}")

    @cached_property
    def _sessions_prefix(self) -> str:
        return os.path.join(self.root, SESSIONS, "")

    def sessions_stamp(self) -> int:
        return _dir_stamp(self.sessions)

    def within(self, path: Path) -> bool:
        """True when ``path`` is below the root through real folders only (so moving it moves nothing else)."""
        try:
            relative = Path(os.path.abspath(path)).relative_to(os.path.abspath(self.root))
        except ValueError:
            return False
        if not relative.parts or ".." in relative.parts:
            return False
        here = self.root
        for part in relative.parts[:-1]:
            here = here / part
            if not is_real_dir(here):
                return False
        return True

    def _checked(self, checkpoint_id: str) -> str:
        if not is_checkpoint_id(checkpoint_id):
            raise InvalidId(f"{checkpoint_id!r} is not a checkpoint id")
        return checkpoint_id


def is_real_dir(path: Path) -> bool:
    info = _lstat(path)
    return info is not None and stat.S_ISDIR(info.st_mode)


def _lstat(path: Path | str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def _sizes_in(folder: Path, named: Callable[[str], str | None]) -> int:
    """Total size of the regular files in a real folder whose names ``named`` accepts."""
    if not is_real_dir(folder):
        return 0
    total = 0
    try:
        for entry in os.scandir(folder):
            if named(entry.name) and entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
    except OSError:
        return total
    return total


def _dir_stamp(path: Path | str) -> int:
    info = _lstat(path)
    if info is None:
        return MISSING
    return info.st_mtime_ns if stat.S_ISDIR(info.st_mode) else NOT_A_DIR
