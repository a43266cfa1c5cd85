"""Back and forward through a page's own history: real store, real recorder, restarts as new processes see them."""

from __future__ import annotations

from pathlib import Path

from factories import make_workspace, typed

from session_manager.app.history.steps import Step
from session_manager.app.history_entries import page_history
from session_manager.app.workspace import Workspace
from session_manager.recording.page_mirror import PageContent


def texts_back(workspace: Workspace, tab: str, times: int, view: str = "text") -> list[str]:
    page = workspace.page(tab, view)
    shown = []
    for _ in range(times):
        workspace.history.step(tab, view, -1)
        shown.append(page.content.input_text)
    return shown


def write_versions(workspace: Workspace, tab: str, count: int, autosave_every: int = 0) -> list[str]:
    """``count`` versions of the page, each a checkpoint (or every ``autosave_every``-th an autosave)."""
    page = workspace.page(tab, "text")
    versions = []
    for i in range(count):
        text = f"version {i:03d}"
        typed(page, text)
        if autosave_every and i % autosave_every == 0:
            assert workspace.recorder.autosave(page)
        else:
            workspace.recorder.checkpoint(page)
        versions.append(text)
    return versions


def test_back_steps_through_checkpoints_and_autosaves_in_time_order(workspace: Workspace) -> None:
    versions = write_versions(workspace, "a", 8, autosave_every=3)
    page = workspace.page("a", "text")
    assert texts_back(workspace, "a", 7) == list(reversed(versions[:-1]))
    assert workspace.history.step("a", "text", -1) == (None, None)
    assert "oldest" in page.status and page.content.input_text == versions[0]


def test_forward_comes_back_to_the_newest_state(workspace: Workspace) -> None:
    versions = write_versions(workspace, "a", 5)
    page = workspace.page("a", "text")
    texts_back(workspace, "a", 3)
    assert page.content.input_text == versions[1]
    for expected in versions[2:]:
        workspace.history.step("a", "text", +1)
        assert page.content.input_text == expected
    workspace.history.step("a", "text", +1)
    assert "newest state" in page.status and page.content.input_text == versions[-1]


def test_unsaved_text_is_autosaved_before_the_first_step_and_forward_brings_it_back(workspace: Workspace) -> None:
    write_versions(workspace, "a", 3)
    page = typed(workspace.page("a", "text"), "typed, never saved")
    workspace.history.step("a", "text", -1)
    assert page.content.input_text == "version 002"
    workspace.history.step("a", "text", +1)
    assert page.content.input_text == "typed, never saved"


def test_steps_add_nothing_to_the_history(workspace: Workspace) -> None:
    write_versions(workspace, "a", 6, autosave_every=2)
    session_id = workspace.page("a", "text").session_id
    before = page_history(workspace.store, session_id)
    texts_back(workspace, "a", 4)
    for _ in range(4):
        workspace.history.step("a", "text", +1)
    assert page_history(workspace.store, session_id) == before
    assert len(workspace.store.checkpoint_ids(session_id)) == 3


def test_fifty_steps_back_and_fifty_forward(workspace: Workspace) -> None:
    versions = write_versions(workspace, "a", 60, autosave_every=4)
    page = workspace.page("a", "text")
    assert texts_back(workspace, "a", 55) == list(reversed(versions[4:59]))
    for _ in range(55):
        workspace.history.step("a", "text", +1)
    assert page.content.input_text == versions[-1]


def test_a_restart_mid_undo_shows_the_stepped_state_and_steps_on_from_it(tmp_path: Path) -> None:
    root = tmp_path / "store"
    first = make_workspace(root)
    versions = write_versions(first, "a", 6)
    texts_back(first, "a", 3)
    assert first.page("a", "text").content.input_text == versions[2]
    first.recorder.stop()

    again = make_workspace(root)
    latest = again.recorder.boot()
    assert latest is not None and latest.input_text == versions[2]  # the restart brings back what was shown
    page = again.page("b", "text")
    assert page.content.input_text == versions[2]
    again.history.step("b", "text", -1)
    assert page.content.input_text == versions[1]
    for expected in versions[2:]:
        again.history.step("b", "text", +1)
        assert page.content.input_text == expected
    latest = again.store.latest_state(page.session_id)
    assert latest is not None and latest.input_text == versions[-1] and latest.restores is None


def test_back_after_an_edit_at_a_stepped_state_returns_to_that_state_first(workspace: Workspace) -> None:
    versions = write_versions(workspace, "a", 5)
    page = workspace.page("a", "text")
    texts_back(workspace, "a", 2)
    typed(page, "a new idea at version 2")
    workspace.recorder.checkpoint(page)
    workspace.history.step("a", "text", -1)
    assert page.content.input_text == versions[2]
    workspace.history.step("a", "text", -1)
    assert page.content.input_text == versions[1]


def test_a_restore_is_a_new_present_that_back_undoes(workspace: Workspace) -> None:
    write_versions(workspace, "a", 4)
    page = workspace.page("a", "text")
    oldest = workspace.store.checkpoint_ids(page.session_id)[-1]
    workspace.restore("a", oldest)
    assert page.content.input_text == "version 000"
    workspace.history.step("a", "text", -1)
    assert page.content.input_text == "version 003"


def test_chat_pages_step_through_their_replies(workspace: Workspace) -> None:
    page = workspace.page("a", "chat")
    history: dict = {"internal": [], "visible": [], "metadata": {}}
    for i in range(3):
        history = {"internal": history["internal"] + [[f"q{i}", f"a{i}"]],
                   "visible": history["visible"] + [[f"q{i}", f"a{i}"]], "metadata": {}}
        workspace.recorder.generation_finished(page, PageContent("chat", history=history))
    result, choice = workspace.history.step("a", "chat", -1)
    assert result is not None and result.view == "chat" and choice is not None
    assert len(page.content.history["internal"]) == 2
    session_id = page.session_id
    assert [c.trigger for c in workspace.store.list_checkpoints(session_id)] == ["stop"] * 3  # no rewind entries


def test_nowhere_to_go_is_said_on_the_status_line(workspace: Workspace) -> None:
    page = workspace.page("a", "text")
    assert workspace.history.step("a", "text", -1) == (None, None)
    assert "no history" in page.status
    write_versions(workspace, "a", 1)
    workspace.history.step("a", "text", +1)
    assert "newest state" in page.status


def test_the_step_result_places_the_entry_in_the_history(workspace: Workspace) -> None:
    write_versions(workspace, "a", 4)
    page = workspace.page("a", "text")
    result = workspace.history.steps.step(page, -1)
    assert isinstance(result, Step) and (result.place, result.total) == (3, 4)
    workspace.history.step("a", "text", -1)
    assert page.status.startswith("Back to the manual checkpoint of ") and "(2 of 4)" in page.status


def test_a_change_of_parameters_alone_is_a_step(workspace: Workspace) -> None:
    page = typed(workspace.page("a", "text"), "same text", params={"temperature": 0.5})
    workspace.recorder.checkpoint(page)
    page.update_param("temperature", 0.9, by_user=True)
    workspace.recorder.checkpoint(page)
    workspace.history.step("a", "text", -1)
    assert page.content.params["temperature"] == 0.5 and "(1 of 2)" in page.status


def test_a_page_that_knows_fewer_parameters_than_its_saves_still_steps_back(workspace: Workspace) -> None:
    """A host may mirror only some parameters: the newest save must not look like a different state."""
    page = workspace.page("a", "text")
    for text in ("v0", "v1"):
        workspace.recorder.checkpoint(typed(page, text, params={"temperature": 0.7, "top_p": 0.9}))
    page.show(PageContent(input_text="v1 ", params={"temperature": 0.7}), page.session_id)  # as a host shows it
    workspace.history.step("a", "text", -1)
    assert page.content.input_text == "v0"


def test_a_session_with_default_and_notebook_states_steps_through_the_views_own(workspace: Workspace) -> None:
    """Issue 20.1: Generate in the Default view and in the Notebook view of one prompt, then Back and Forward in
    the Default view: only Default states are shown, nothing is autosaved by stepping, and Forward comes back."""
    page = workspace.page("a", "text")
    defaults = []
    for i in range(4):
        typed(page, f"question {i}", f"question {i} answer {i}", mode="default")
        workspace.recorder.checkpoint(page, "stop")
        defaults.append(page.content.output_text)
        typed(page, f"notebook story {i}", "", mode="notebook")
        workspace.recorder.checkpoint(page, "stop")
    typed(page, "question 3", defaults[-1], mode="default")  # the user switches back to the Default view
    workspace.history.step("a", "text", -1)  # the unsaved page is autosaved first, as before any step
    seen = [(page.content.mode, page.content.output_text)]
    autosaves = workspace.store.autosave_ids(page.session_id)
    for _ in range(2):
        workspace.history.step("a", "text", -1)
        seen.append((page.content.mode, page.content.output_text))
    assert seen == [("default", text) for text in reversed(defaults[:-1])], seen
    for expected in defaults[1:]:
        workspace.history.step("a", "text", +1)
        assert (page.content.mode, page.content.output_text) == ("default", expected), page.status
    workspace.history.step("a", "text", +1)
    assert "newest" in page.status and page.content.output_text == defaults[-1]
    assert workspace.store.autosave_ids(page.session_id) == autosaves, "stepping wrote autosaves"


def test_a_late_echo_of_the_first_of_two_quick_steps_is_not_taken_for_what_the_page_shows(
        workspace: Workspace) -> None:
    """Back pressed twice quickly: the host's echo of the first step's boxes arrives after the second step.
    The page still shows the second step, so the next Back goes on back, and nothing is autosaved."""
    versions = write_versions(workspace, "a", 5)
    page = workspace.page("a", "text")
    session_id = page.session_id
    autosaves = workspace.store.autosave_ids(session_id)
    texts_back(workspace, "a", 2)
    workspace.mirror("a", "text", {"mode": "default", "input_text": versions[3], "output_text": ""})  # late
    assert page.content.input_text == versions[2] and not page.dirty
    workspace.mirror("a", "text", {"mode": "default", "input_text": versions[2], "output_text": ""})  # its own
    assert texts_back(workspace, "a", 1) == [versions[1]]
    assert workspace.store.autosave_ids(session_id) == autosaves


def test_typing_an_earlier_steps_text_again_is_an_edit(workspace: Workspace) -> None:
    versions = write_versions(workspace, "a", 5)
    page = workspace.page("a", "text")
    texts_back(workspace, "a", 2)
    typed(page, versions[3])
    assert page.content.input_text == versions[3] and page.dirty
