"""One store per login, when several people share one web UI (textgen's --multi-user with logins).

Each login gets ``<root>/users/<user-id>/``, a whole store of its own. The user id is derived from
the login name but never is the name: a short readable slug (ASCII letters and digits) and a hash
of the exact name, so ``../x``, ``con``, 300 characters or any Unicode all give a safe, distinct
folder name. ``user_root`` is the one way from a login to its store; the panel, the sessions API
and the prompt cache all use it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from ..atomic import write_text_atomic
from ..errors import SessionManagerError

USERS_FOLDER = "users"
LOGIN_FILE = "login.json"  # says whose store a folder is (for the administrator and the curious)
SLUG_LENGTH = 24
HASH_LENGTH = 16  # 64 bits of the name's SHA-256: distinct logins never share a folder in practice
T = TypeVar("T")


def user_id(login: str) -> str:
    """A folder name for ``login``: ``<slug>-<hash>``, e.g. ``alice-3f2a...`` (``user-...`` when no letter fits)."""
    if not isinstance(login, str) or not login:
        raise SessionManagerError("a user needs a login name")
    ascii_name = unicodedata.normalize("NFKD", login).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:SLUG_LENGTH].strip("-")
    digest = hashlib.sha256(login.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_LENGTH]
    return f"{slug or 'user'}-{digest}"


def user_root(root: Path, login: str) -> Path:
    """The store root of ``login`` below the shared store root ``root``."""
    return Path(root) / USERS_FOLDER / user_id(login)


def known_users(root: Path) -> list[tuple[str, str]]:
    """(user id, login name) of every user folder below ``root``, by user id."""
    folder = Path(root) / USERS_FOLDER
    found = []
    for child in sorted(folder.iterdir()) if folder.is_dir() else []:
        if child.is_dir() and not child.is_symlink():
            found.append((child.name, _read_login(child) or "?"))
    return found


@dataclass(frozen=True)
class UserSummary:
    """What an administrator sees of a user's store: how much is there, never what it says."""

    user_id: str
    login: str
    sessions: int
    checkpoints: int
    bytes: int


def summaries(root: Path) -> list[UserSummary]:
    """Every user's store, counted by reading folder listings only (nothing is opened, nothing written)."""
    found = []
    for uid, login in known_users(root):
        sessions = Path(root) / USERS_FOLDER / uid / "sessions"
        count = checkpoints = size = 0
        for dirpath, dirnames, filenames in os.walk(Path(root) / USERS_FOLDER / uid):  # symlinks are not followed
            size += sum(_size(Path(dirpath) / name) for name in filenames)
            if Path(dirpath).parent == sessions:
                count += 1
            if Path(dirpath).name == "checkpoints" and Path(dirpath).parent.parent == sessions:
                checkpoints += sum(1 for name in filenames if name.endswith(".json"))
            dirnames[:] = [d for d in dirnames if not (Path(dirpath) / d).is_symlink()]
        found.append(UserSummary(uid, login, count, checkpoints, size))
    return found


class Users(Generic[T]):
    """Each login's own runtime (its store, recorder, ...), made by ``make`` on first use; and which login
    each browser tab belongs to, as the page's own events tell it."""

    def __init__(self, root: Path, make: Callable[[str, Path], T]) -> None:
        self.root = Path(root)
        self._make = make
        self._users: dict[str, T] = {}
        self._tabs: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, login: str) -> T:
        with self._lock:
            found = self._users.get(login)
            if found is None:
                root = user_root(self.root, login)
                root.mkdir(parents=True, exist_ok=True)
                if _read_login(root) != login:
                    write_text_atomic(root / LOGIN_FILE, json.dumps({"login": login}, ensure_ascii=False))
                found = self._users[login] = self._make(login, root)
            return found

    def drop(self, login: str) -> T | None:
        """Forget ``login``'s runtime (a browser tab closed); the caller closes it."""
        with self._lock:
            self._tabs = {tab: who for tab, who in self._tabs.items() if who != login}
            return self._users.pop(login, None)

    def bind(self, tab: str | None, login: str) -> None:
        """The page ``tab`` was opened by ``login`` (its events carry the login)."""
        if tab:
            with self._lock:
                self._tabs[tab] = login

    def login_of(self, tab: str | None) -> str | None:
        with self._lock:
            return self._tabs.get(tab) if tab else None

    def __iter__(self) -> Iterator[tuple[str, T]]:
        with self._lock:
            return iter(list(self._users.items()))


def _size(path: Path) -> int:
    try:
        return path.lstat().st_size
    except OSError:
        return 0


def _read_login(folder: Path) -> str | None:
    try:
        login = json.loads((folder / LOGIN_FILE).read_text(encoding="utf-8")).get("login")
    except (OSError, ValueError, AttributeError):
        return None
    return login if isinstance(login, str) else None
