"""A chat's Rewind and Back/Forward are one history: a Rewind moves the chat back along its timeline as that
many Back steps would, so Forward brings back the turns it took away (real store, real recorder; a restart is
a new workspace on the same store)."""

from __future__ import annotations

from pathlib import Path

from factories import make_workspace

from session_manager.app.history_entries import page_history
from session_manager.app.workspace import Workspace
from session_manager.recording.page_mirror import PageContent


def chat_turns(workspace: Workspace, tab: str, count: int, first: int = 0, start: dict | None = None) -> list[str]:
    """``count`` replies of the tab's chat, each saved as textgen's end of a reply saves it; their checkpoint ids."""
    page = workspace.page(tab, "chat")
    history = start or {"internal": [], "visible": [], "metadata": {}}
    for i in range(first, first + count):
        turn = [f"question {i}", f"answer {i}"]
        history = {"internal": history["internal"] + [turn], "visible": history["visible"] + [turn], "metadata": {}}
        workspace.recorder.generation_finished(page, PageContent("chat", history=history))
    assert page.session_id is not None
    by_time = sorted(workspace.store.list_checkpoints(page.session_id), key=lambda c: c.id)
    return [c.id for c in by_time]


def turns(workspace: Workspace, tab: str = "a") -> int:
    return len(workspace.page(tab, "chat").content.history["internal"])


def test_forward_after_a_rewind_brings_back_the_turn_it_removed(workspace: Workspace) -> None:
    replies = chat_turns(workspace, "a", 3)
    session_id = workspace.page("a", "chat").session_id
    before = page_history(workspace.store, session_id)
    workspace.restore("a", replies[1], view="chat")  # the timeline's turn 2, then Rewind
    assert turns(workspace) == 2
    workspace.history.step("a", "chat", +1)
    assert turns(workspace) == 3 and "Forward to the newest state" in workspace.page("a", "chat").status
    workspace.history.step("a", "chat", -1)
    assert turns(workspace) == 2
    workspace.history.step("a", "chat", -1)
    assert turns(workspace) == 1
    assert page_history(workspace.store, session_id) == before  # the rewind added nothing to step over


def test_a_rewind_of_several_turns_is_as_many_steps_back(workspace: Workspace) -> None:
    replies = chat_turns(workspace, "a", 5)
    workspace.restore("a", replies[1], view="chat")
    page = workspace.page("a", "chat")
    assert turns(workspace) == 2 and workspace.history.steps.position(page) is not None
    for expected in (3, 4, 5):
        workspace.history.step("a", "chat", +1)
        assert turns(workspace) == expected
    workspace.history.step("a", "chat", +1)
    assert "nothing to go forward to" in page.status and turns(workspace) == 5


def test_after_a_rewind_a_new_message_is_the_newest_state_and_back_returns_to_the_rewind(
        workspace: Workspace) -> None:
    replies = chat_turns(workspace, "a", 3)
    workspace.restore("a", replies[0], view="chat")
    page = workspace.page("a", "chat")
    chat_turns(workspace, "a", 1, first=10, start=page.content.history)  # the user writes something new
    workspace.history.step("a", "chat", +1)
    assert "nothing to go forward to" in page.status
    assert page.content.history["internal"][-1] == ["question 10", "answer 10"]
    workspace.history.step("a", "chat", -1)
    assert page.content.history["internal"] == [["question 0", "answer 0"]]


def test_a_rewind_to_the_newest_turn_leaves_the_chat_at_its_newest_state(workspace: Workspace) -> None:
    replies = chat_turns(workspace, "a", 3)
    workspace.restore("a", replies[0], view="chat")
    workspace.restore("a", replies[2], view="chat")  # changed their mind: rewound to the last turn
    page = workspace.page("a", "chat")
    assert turns(workspace) == 3 and workspace.history.steps.position(page) is None
    latest = workspace.store.latest_state(page.session_id)
    assert latest is not None and latest.restores is None and len(latest.history["internal"]) == 3
    workspace.history.step("a", "chat", -1)
    assert turns(workspace) == 2


def test_a_restart_after_a_rewind_shows_the_rewound_chat_and_forward_brings_the_turn_back(tmp_path: Path) -> None:
    root = tmp_path / "store"
    first = make_workspace(root)
    replies = chat_turns(first, "a", 3)
    first.restore("a", replies[1], view="chat")
    first.recorder.stop()

    again = make_workspace(root)
    latest = again.recorder.boot()
    assert latest is not None and len(latest.history["internal"]) == 2  # the restart shows the rewound chat
    page = again.page("b", "chat")
    assert turns(again, "b") == 2
    again.history.step("b", "chat", +1)
    assert turns(again, "b") == 3 and page.content.history["internal"][-1] == ["question 2", "answer 2"]
