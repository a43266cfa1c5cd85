"""The history in the panel, built in a real Gradio Blocks: each event's own function called as Gradio
calls it (the browser tab in the request), its outputs read back by component."""

from __future__ import annotations

from typing import Any

import gradio as gr
from factories import typed

from session_manager.app.history.drawing import SESSION_PICK
from session_manager.app.workspace import Workspace
from session_manager.ui import PageBinding, Panel


class Built:
    def __init__(self, workspace: Workspace) -> None:
        with gr.Blocks() as self.app:
            self.input, self.output = gr.Textbox(), gr.Textbox()
            self.temperature = gr.Slider(0, 2, value=0.7)
            binding = PageBinding(input_box=self.input, output_box=self.output,
                                  params={"temperature": self.temperature})
            self.panel = Panel(workspace)
            self.bar = self.panel.quick_bar(binding)
            self.manager = self.panel.manager()
            self.panel.finish(self.app, [binding])
        self.history, self.insight = self.panel.extras

    def fire(self, component: Any, event: str, tab: str, *values: Any) -> dict[Any, Any]:
        """Run the function wired to ``component``'s ``event``: {output component: value}."""
        found = [f for f in self.app.fns.values() if (component._id, event) in f.targets]
        assert len(found) == 1, f"{len(found)} functions for {event}"
        outputs = found[0].fn(gr.Request(session_hash=tab), *values)
        return dict(zip(found[0].outputs, outputs or [], strict=True))


def value(update: Any) -> Any:
    return update.get("value") if isinstance(update, dict) else update


def test_back_and_forward_write_the_page_and_move_the_picker(workspace: Workspace) -> None:
    ui = Built(workspace)
    page = workspace.page("a", "text")
    ids = []
    for text in ("one", "two", "three"):
        ids.append(workspace.recorder.checkpoint(typed(page, text)).id)
    shown = ui.fire(ui.bar.back, "click", "a")
    assert shown[ui.input] == "two" and value(shown[ui.bar.picker]) == ids[1]
    assert page.status.startswith("Back to the manual checkpoint of ")
    assert value(shown[ui.bar.status]).endswith(page.status)
    shown = ui.fire(ui.bar.forward, "click", "a")
    assert shown[ui.input] == "three" and value(shown[ui.bar.picker]) == ids[2]
    shown = ui.fire(ui.bar.forward, "click", "a")
    assert "newest state" in value(shown[ui.bar.status]) and not isinstance(shown[ui.input], str)


def test_a_click_on_the_timeline_selects_the_point_restore_restores(workspace: Workspace) -> None:
    ui = Built(workspace)
    page = typed(workspace.page("a", "text"), "autosaved first")
    workspace.recorder.autosave(page)
    typed(page, "second")
    workspace.recorder.autosave(page)
    workspace.recorder.checkpoint(typed(page, "third"))
    older = workspace.store.autosave_ids(page.session_id)[1]
    shown = ui.fire(ui.history.pick, "input", "a", f"autosave:{older}|1712345")
    chosen = value(shown[ui.manager.picker])
    assert chosen == f"autosave:{older}"
    assert chosen in [v for _, v in shown[ui.manager.picker]["choices"]]
    assert f'sm-tl-row-selected" data-sm-pick="autosave:{older}"' in shown[ui.history.timeline]
    assert "Selected the autosave of " in value(shown[ui.bar.status])
    restored = ui.fire(ui.manager.restore, "click", "a", chosen, False)
    assert restored[ui.input] == "autosaved first"


def test_a_parameter_changed_alone_is_autosaved(workspace: Workspace) -> None:
    """The page mirrors the parameters too: once the user has written, moving a slider alone is unsaved work."""
    ui = Built(workspace)
    recorder = workspace.recorder
    ui.fire(ui.input, "input", "a", "A draft typed by hand", "")
    recorder.autosave_all()
    page = workspace.page("a", "text")
    assert recorder.store.read_autosave(page.session_id).input_text == "A draft typed by hand"
    ui.fire(ui.temperature, "change", "a", 1.3)
    assert page.dirty
    recorder.autosave_all()
    saved = recorder.store.read_autosave(page.session_id)
    assert saved.params == {"temperature": 1.3} and saved.input_text == "A draft typed by hand"


def test_a_click_on_a_branch_opens_that_session(workspace: Workspace) -> None:
    ui = Built(workspace)
    page = workspace.page("a", "text")
    checkpoint = workspace.recorder.checkpoint(typed(page, "root"))
    branch, _ = workspace.store.branch(page.session_id, checkpoint.id, "the branch")
    shown = ui.fire(ui.history.pick, "input", "a", SESSION_PICK + branch.id + "|9")
    assert page.session_id == branch.id and value(shown[ui.manager.sessions]) == branch.id
    assert "(this session)" in shown[ui.history.tree] and "the branch" in shown[ui.history.tree]


def test_a_pick_of_something_gone_says_so(workspace: Workspace) -> None:
    ui = Built(workspace)
    page = workspace.page("a", "text")
    workspace.recorder.checkpoint(typed(page, "x"))
    shown = ui.fire(ui.history.pick, "input", "a", "20200101T000000000Z-aaaaaa|1")
    assert "gone" in value(shown[ui.bar.status])


def test_note_fields_show_the_selection_and_a_refresh_never_overwrites_typing(workspace: Workspace) -> None:
    ui = Built(workspace)
    page = workspace.page("a", "text")
    first = workspace.recorder.checkpoint(typed(page, "first"), label="opening")
    workspace.recorder.checkpoint(typed(page, "second"))
    workspace.store.set_mark(page.session_id, first.id, note="why it matters")
    shown = ui.fire(ui.history.pick, "input", "a", first.id)
    assert (shown[ui.history.label], shown[ui.history.note]) == ("opening", "why it matters")
    again = dict(zip(ui.panel.outputs(), ui.panel.render("a", kept=[first.id, first.id]), strict=True))
    assert again[ui.history.note] == gr.update()  # the same selection: what the user types stays
    saved = ui.fire(ui.history.save_mark, "click", "a", "opening", "the lighthouse chapter", True)
    assert "Pinned" in value(saved[ui.bar.status])
    mark = workspace.store.marks(page.session_id).marks[first.id]
    assert (mark.note, mark.pinned, mark.label) == ("the lighthouse chapter", True, None)
    assert [hit.id for hit in workspace.store.search("lighthouse")] == [page.session_id]


def test_session_tags_and_notes_are_saved_and_found_by_tag(workspace: Workspace) -> None:
    ui = Built(workspace)
    other = workspace.recorder.checkpoint(typed(workspace.page("b", "text"), "untagged"))
    page = workspace.page("a", "text")
    workspace.new_session("a", "tagged")
    workspace.recorder.checkpoint(typed(page, "x"))
    ui.fire(ui.history.save_session, "click", "a", "poems,  sea  , poems", "about the sea", True)
    meta = workspace.store.get_session(page.session_id)
    assert (meta.tags, meta.notes, meta.pinned) == (["poems", "sea"], "about the sea", True)
    assert other.id and workspace.page("b").session_id not in (None, page.session_id)
    listed = [v for _, v in workspace.state("b", query="sea tag:poems").sessions]
    assert listed == [workspace.page("b").session_id, page.session_id]  # the tab's own session, then the hit


def test_the_diff_compares_a_checkpoint_with_the_page_now(workspace: Workspace) -> None:
    ui = Built(workspace)
    page = workspace.page("a", "text")
    checkpoint = workspace.recorder.checkpoint(typed(page, "The sea was calm."))
    typed(page, "The sea was wild.")
    shown = ui.fire(ui.insight.show_diff, "click", "a", checkpoint.id, None, "side by side")
    assert "<del>calm</del>" in shown[ui.insight.diff] and "<ins>wild</ins>" in shown[ui.insight.diff]
    assert value(shown[ui.bar.status]).endswith("Compared: 1 words added, 1 removed.")
    bad = ui.fire(ui.insight.show_diff, "click", "a", "20200101T000000000Z-aaaaaa", None, "inline")
    assert "Pick two states" in value(bad[ui.bar.status])


def test_runs_are_added_from_any_session_and_stats_are_counted(workspace: Workspace) -> None:
    ui = Built(workspace)
    page = workspace.page("a", "text")
    one = workspace.recorder.checkpoint(typed(page, "same prompt, cold"))
    first_session = page.session_id
    workspace.new_session("a", "second")
    two = workspace.recorder.checkpoint(typed(page, "same prompt, hot"))
    shown = ui.fire(ui.insight.add_run, "click", "a", [], first_session, one.id)
    refs = shown[ui.insight.runs]
    shown = ui.fire(ui.insight.add_run, "click", "a", refs, page.session_id, two.id)
    assert len(shown[ui.insight.runs]) == 2 and "cold" in shown[ui.insight.compared]
    assert "Added to the comparison (2 of 4)" in value(shown[ui.bar.status])
    cleared = ui.fire(ui.insight.clear_runs, "click", "a")
    assert cleared[ui.insight.runs] == [] and "Cleared the comparison." in value(cleared[ui.bar.status])
    counted = ui.fire(ui.insight.count, "click", "a")
    assert "All sessions" in counted[ui.insight.stats] and "<svg" in counted[ui.insight.stats]
