"""The panel, built once in a real Gradio Blocks for everyone, driven by two logged-in users' events: each event
runs as Gradio runs it (its gr.Request in Gradio's event context) and reaches only that user's store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
from factories import make_workspace
from gradio.utils import get_function_with_locals
from test_ui import build

from session_manager.app.routing import RoutedWorkspace
from session_manager.app.workspace import Workspace
from session_manager.hosts.textgen.multiuser import current_request, login_of
from session_manager.settings import SettingsManager, load_shipped
from session_manager.store.users import Users, user_root
from session_manager.ui import Panel

ALICE = gr.Request(username="alice", session_hash="tab-alice")
BOB = gr.Request(username="bob", session_hash="tab-bob")


def routed_panel(root: Path) -> tuple[Panel, Users[Workspace]]:
    users: Users[Workspace] = Users(root, lambda login, user_root: make_workspace(user_root))

    def current() -> Workspace | None:
        login = login_of(users, current_request())
        return users.get(login) if login else None

    return build(RoutedWorkspace(current, SettingsManager(load_shipped()))), users  # type: ignore[arg-type]


def event(request: gr.Request, fn: Any, *values: Any) -> Any:
    """``fn`` run as Gradio runs the event of the page that sent ``request``."""
    return get_function_with_locals(fn, None, None, True, request, None)(request, *values)


def session_choices(panel: Panel, values: list[Any]) -> list[Any]:
    sessions = panel.manager_view.sessions
    (update,) = [value for component, value in zip(panel.outputs(), values, strict=True) if component is sessions]
    return [choice for _, choice in update["choices"]]


def test_each_users_events_reach_only_their_store(tmp_path: Path) -> None:
    panel, users = routed_panel(tmp_path)
    view = panel.manager_view
    create = panel.handler(lambda tab, name: panel.workspace.new_session(tab, name))
    alice_values = event(ALICE, create, "Alice's diary")
    bob_values = event(BOB, create, "Bob's plans")
    alice, bob = users.get("alice"), users.get("bob")
    assert [r.meta.name for r in alice.store.list_sessions()] == ["Alice's diary"]
    assert [r.meta.name for r in bob.store.list_sessions()] == ["Bob's plans"]
    assert alice.store.root == user_root(tmp_path, "alice")
    secret = alice.page("tab-alice").session_id
    assert session_choices(panel, alice_values) == [secret]
    assert secret not in session_choices(panel, bob_values)
    assert view is not None


def test_guessing_another_users_session_id_finds_nothing(tmp_path: Path) -> None:
    panel, users = routed_panel(tmp_path)
    event(ALICE, panel.handler(lambda tab, name: panel.workspace.new_session(tab, name)), "Alice's diary")
    secret = users.get("alice").page("tab-alice").session_id
    values = event(BOB, panel.handler(panel.workspace.select_session), secret)  # taken while building: late
    bob = users.get("bob").page("tab-bob")
    assert bob.session_id is None and "Not selected" in bob.status
    assert secret not in session_choices(panel, values)
    searched = event(BOB, lambda request: panel.workspace.state("tab-bob", "diary"))
    assert searched.sessions == []


def test_settings_changed_by_one_user_are_theirs(tmp_path: Path) -> None:
    panel, users = routed_panel(tmp_path)
    event(ALICE, lambda request: panel.workspace.set_setting("autosave_interval", 90))
    assert users.get("alice").settings.current.autosave_interval == 90
    assert users.get("bob").settings.current.autosave_interval != 90
    assert (user_root(tmp_path, "alice") / "settings.json").exists()
