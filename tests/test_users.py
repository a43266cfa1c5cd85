"""One store per login: the folder name derived from a login, and the registry of users and their tabs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from session_manager.errors import SessionManagerError
from session_manager.store import SessionStore
from session_manager.store.users import LOGIN_FILE, Users, known_users, user_id, user_root

ODD_LOGINS = ["../x", "..", ".", "con", "CON", "nul.txt", "a/b\\c", "x" * 300, "Ærøskøbing", "名前", "👩‍💻",
              " spaced out ", "a\x00b", "-", "___"]


@pytest.mark.parametrize("login", ODD_LOGINS)
def test_every_login_gives_a_short_safe_folder_name(login: str, tmp_path: Path) -> None:
    name = user_id(login)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name), name
    assert len(name) <= 24 + 1 + 16
    assert name.lower() not in {"con", "nul", "aux", "prn", ".", ".."}
    root = user_root(tmp_path, login)
    assert root.parent == tmp_path / "users"
    root.mkdir(parents=True)  # a real folder of that name can be made, right there
    assert root.resolve().parent == (tmp_path / "users").resolve()


def test_the_name_is_readable_and_stable() -> None:
    assert user_id("alice").startswith("alice-")
    assert user_id("Zoë Smith").startswith("zoe-smith-")
    assert user_id("名前").startswith("user-")
    assert user_id("alice") == user_id("alice")


def test_different_logins_never_share_a_folder() -> None:
    logins = ["alice", "Alice", "alice ", "ALICE", "../x", "..x", "x" * 300, "x" * 301, "名前", "名"]
    assert len({user_id(login) for login in logins}) == len(logins)


def test_an_empty_login_is_refused() -> None:
    with pytest.raises(SessionManagerError, match="login"):
        user_id("")


def test_each_user_is_made_once_with_a_store_of_their_own(tmp_path: Path) -> None:
    made: list[str] = []

    def make(login: str, root: Path) -> SessionStore:
        made.append(login)
        return SessionStore(root)

    users = Users(tmp_path, make)
    alice, bob = users.get("alice"), users.get("../x")
    assert users.get("alice") is alice and made == ["alice", "../x"]
    assert alice.root == user_root(tmp_path, "alice") and bob.root == user_root(tmp_path, "../x")
    assert not (tmp_path / "x").exists() and not (tmp_path.parent / "x").exists()
    assert json.loads((bob.root / LOGIN_FILE).read_text(encoding="utf-8")) == {"login": "../x"}
    assert sorted(login for _, login in known_users(tmp_path)) == ["../x", "alice"]


def test_a_tab_belongs_to_the_login_its_events_named(tmp_path: Path) -> None:
    users = Users(tmp_path, lambda login, root: login)
    users.bind("tab-a", "alice")
    users.bind(None, "bob")
    assert users.login_of("tab-a") == "alice" and users.login_of("tab-b") is None and users.login_of(None) is None
