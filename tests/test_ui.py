"""The panel, built in a real Gradio Blocks and driven as Gradio drives it (one request per browser tab)."""

from __future__ import annotations

import gradio as gr
from factories import typed

from session_manager.app.panel_state import AUTOSAVE_CHOICE
from session_manager.app.workspace import Workspace
from session_manager.settings import SettingsManager, load_shipped
from session_manager.ui import PageBinding, Panel


def build(workspace: Workspace) -> Panel:
    with gr.Blocks() as app:
        binding = PageBinding(input_box=gr.Textbox(), output_box=gr.Textbox(),
                              params={"temperature": gr.Slider(0, 2, value=0.7)})
        panel = Panel(workspace)
        panel.quick_bar(binding)
        panel.manager()
        panel.finish(app, [binding])
    return panel


def tab(name: str) -> gr.Request:
    return gr.Request(session_hash=name)


def picker_values(panel: Panel, values: list, kept: list | None = None) -> list:
    """What each picker shows after ``values``: a refresh that leaves a picker alone keeps its value."""
    pickers = panel.pickers()
    updates = [value for component, value in zip(panel.outputs(), values, strict=True) if component in pickers]
    return [update.get("value", kept[i] if kept else None) for i, update in enumerate(updates)]


def test_every_view_gets_a_value_in_order(workspace: Workspace) -> None:
    panel = build(workspace)
    page = typed(workspace.page("a"), "hello")
    checkpoint = workspace.recorder.checkpoint(page)
    values = panel.render("a", selected=checkpoint.id)
    assert len(values) == len(panel.outputs())
    assert picker_values(panel, values) == [checkpoint.id, checkpoint.id]


def test_a_background_refresh_keeps_the_users_selection(workspace: Workspace) -> None:
    panel = build(workspace)
    recorder = workspace.recorder
    page = typed(workspace.page("a"), "first")
    first = recorder.checkpoint(page)
    typed(page, "second")
    second = recorder.checkpoint(page)
    typed(page, "typing on")
    recorder.autosave_all()  # something changed in the background
    values = panel.render("a", kept=[first.id, None])
    assert picker_values(panel, values, [first.id, None]) == [first.id, AUTOSAVE_CHOICE]
    assert second.id in {value for _, value in values[0]["choices"]}


def test_each_tab_renders_its_own_session_and_status(workspace: Workspace) -> None:
    panel = build(workspace)
    a = typed(workspace.page("a"), "text of tab A")
    b = typed(workspace.page("b"), "text of tab B")
    workspace.recorder.autosave_all()
    a.notify("something only tab A did")
    status_a, status_b = panel.render("a")[1], panel.render("b")[1]
    assert "only tab A" in status_a and "only tab A" not in status_b
    assert panel.render("a")[2]["value"] == a.session_id != b.session_id


def test_the_restore_handler_restores_the_picked_entry(workspace: Workspace) -> None:
    """The picker's autosave entry restores the autosave, not a newer checkpoint."""
    page = typed(workspace.page("a"), "autosaved text")
    workspace.recorder.autosave(page)
    typed(page, "checkpointed text")
    workspace.recorder.checkpoint(page)
    result = workspace.restore("a", AUTOSAVE_CHOICE)
    assert result is not None and page.content.input_text == "autosaved text"


def test_a_long_rename_says_it_was_shortened(workspace: Workspace) -> None:
    page = typed(workspace.page("a"), "x")
    workspace.recorder.autosave(page)
    workspace.rename("a", "y" * 300)
    assert "shortened to 120 characters" in page.status
    workspace.rename("a", "short")
    assert page.status == "Renamed to “short”."


def test_a_pinned_setting_is_shown_pinned_and_cannot_be_changed(workspace: Workspace, tmp_path) -> None:
    pinned = SettingsManager(load_shipped(), host_overrides={"autosave_interval": 45})
    pinned.attach_store(tmp_path)
    workspace.settings = workspace.recorder.settings = pinned
    with gr.Blocks() as app:
        Panel(workspace).manager()
    slider = next(b for b in app.blocks.values() if "sm-interval" in (getattr(b, "elem_classes", None) or []))
    assert slider.interactive is False and "pinned" in slider.label
    message = workspace.set_setting("autosave_interval", 60)
    assert message.startswith("Warning:") and "settings.yaml" in message
    user_file = tmp_path / "settings.json"
    assert not user_file.exists() or "autosave_interval" not in user_file.read_text()


def test_an_autosave_older_than_the_stop_checkpoint_is_not_the_newest_entry(workspace: Workspace) -> None:
    """An autosave taken while the text streamed must not take the picker's place after the Stop."""
    from session_manager.recording.page_mirror import PageContent

    page = typed(workspace.page("a"), "Q", "Q and a stream")
    workspace.recorder.autosave(page)
    stop = workspace.recorder.generation_finished(page, PageContent("default", "Q", "Q and a stream, finished"))
    state = workspace.state("a")
    assert state.newest == stop.id
    assert [value for _, value in state.checkpoints] == [stop.id, AUTOSAVE_CHOICE]


def test_a_picker_left_on_the_newest_entry_follows_the_newest(workspace: Workspace) -> None:
    """After a Stop the quick bar shows the stop checkpoint, unless the user picked another entry."""
    panel = build(workspace)
    recorder = workspace.recorder
    page = typed(workspace.page("a"), "first")
    first = recorder.checkpoint(page)
    shown = panel.render("a")
    assert picker_values(panel, shown) == [first.id, first.id]
    typed(page, "second")
    second = recorder.checkpoint(page)
    assert picker_values(panel, panel.render("a", kept=[first.id, first.id])) == [second.id, second.id]
    recorder.checkpoint(typed(page, "third"))
    values = panel.render("a", kept=[first.id, second.id])
    assert picker_values(panel, values, [first.id, second.id])[0] == first.id  # picked by hand: left alone
    assert "value" not in values[0]  # not even re-sent: the user may be picking another entry right now


def test_a_picker_the_user_opened_stays_on_the_entry_that_was_the_newest(workspace: Workspace) -> None:
    """Picking the entry already shown sends no select event: opening the picker is what pins it."""
    panel = build(workspace)
    page = typed(workspace.page("a"), "first")
    first = workspace.recorder.checkpoint(page)
    panel.render("a")
    panel.positions.opened("a", 0)  # the quick bar's picker
    second = workspace.recorder.checkpoint(typed(page, "second"))
    values = panel.render("a", kept=[first.id, first.id])
    assert picker_values(panel, values, [first.id, first.id]) == [first.id, second.id]  # opened: left alone
    panel.render("a", selected=second.id)  # an action: every picker follows the newest again
    third = workspace.recorder.checkpoint(typed(page, "third"))
    assert picker_values(panel, panel.render("a", kept=[second.id, second.id])) == [third.id, third.id]


def test_a_warning_stays_on_the_status_line_after_an_autosave(workspace: Workspace) -> None:
    """A routine message (the next autosave) must not hide a warning the user has not acted on."""
    page = typed(workspace.page("a"), "some text")
    page.warn("Warning: this textgen version generates differently")
    workspace.recorder.autosave(typed(page, "more text"))
    line = workspace.state("a").status_line
    assert "Autosaved" in line and "Warning: this textgen version generates differently" in line


def test_the_manager_follows_the_view_this_tab_used_last(workspace: Workspace) -> None:
    """A browser tab's Sessions tab shows the session of the view (text or chat) that tab used last."""
    draft = typed(workspace.page("a", "text"), "Tab A's draft")
    workspace.recorder.checkpoint(draft)
    chat = typed(workspace.page("a", "chat"), "Tab A's chat")  # used after the draft
    workspace.recorder.new_session(chat)
    assert draft.session_id is not None and chat.session_id not in (None, draft.session_id)
    assert workspace.state("a").session_id == chat.session_id


def test_textgen_saved_work_is_imported_from_the_panel_once(workspace: Workspace, tmp_path) -> None:
    """The Sessions tab's "Import textgen's saved work": its prompt files become sessions; twice adds none."""
    user_data = tmp_path / "user_data"
    (user_data / "logs" / "notebook").mkdir(parents=True)
    (user_data / "logs" / "notebook" / "ferry.txt").write_text("The ferry left at dawn, and", encoding="utf-8")
    workspace.recorder.host.work_folder = user_data
    panel = build(workspace)
    assert panel.transfer is not None and panel.transfer.host_work is not None
    workspace.exchange.import_file("a", str(user_data))
    page = workspace.page("a")
    assert page.status.startswith("Imported 1") and len(workspace.store.list_sessions()) == 1
    workspace.exchange.import_file("a", str(user_data))
    assert "skipped 1" in page.status.lower() and len(workspace.store.list_sessions()) == 1
