"""Looking at the history in the manager tab: a diff of two states, runs side by side, and the stats."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from ..app.history_entries import PAGE_CHOICE
from ..app.workspace import Workspace
from .events import Renders, tab_of


@dataclass
class InsightBlock:
    old: gr.Dropdown
    new: gr.Dropdown
    layout: gr.Radio
    show_diff: gr.Button
    diff: gr.HTML
    run_session: gr.Dropdown
    run_choice: gr.Dropdown
    add_run: gr.Button
    clear_runs: gr.Button
    runs: gr.State
    compared: gr.HTML
    count: gr.Button
    stats: gr.HTML
    _selected: dict[str | None, str | None] = field(default_factory=dict)  # the manager's choice, per tab
    _sent: dict[str | None, tuple[Any, ...]] = field(default_factory=dict)  # the choices each tab has

    @classmethod
    def build(cls) -> InsightBlock:
        with gr.Accordion("Compare two states (diff)", open=False, elem_classes="sm-diff-box"):
            with gr.Row():
                old = gr.Dropdown(label="From (empty: the selected checkpoint)", choices=[], value=None, scale=3,
                                  elem_classes="sm-diff-from")
                new = gr.Dropdown(label="To", choices=[("The page now", PAGE_CHOICE)], value=PAGE_CHOICE, scale=3,
                                  elem_classes="sm-diff-to")
                layout = gr.Radio(["inline", "side by side"], value="inline", label="Show", scale=2,
                                  elem_classes="sm-diff-layout")
                show_diff = gr.Button("Show differences", scale=1, elem_classes="sm-diff-show")
            diff = gr.HTML("", elem_classes="sm-diff-out")
        with gr.Accordion("Compare runs (checkpoints of any sessions, side by side)", open=False):
            with gr.Row():
                run_session = gr.Dropdown(label="Session", choices=[], value=None, scale=3,
                                          elem_classes="sm-run-session")
                run_choice = gr.Dropdown(label="Checkpoint", choices=[], value=None, scale=3,
                                         elem_classes="sm-run-choice")
                add_run = gr.Button("Add to comparison", scale=1, elem_classes="sm-run-add")
                clear_runs = gr.Button("Clear", scale=0, min_width=80, elem_classes="sm-run-clear")
            runs = gr.State([])
            compared = gr.HTML("", elem_classes="sm-runs-out")
        with gr.Accordion("Stats", open=False):
            count = gr.Button("Count", elem_classes="sm-stats-count")
            stats = gr.HTML("", elem_classes="sm-stats-out")
        return cls(old, new, layout, show_diff, diff, run_session, run_choice, add_run, clear_runs, runs, compared,
                   count, stats)

    def outputs(self) -> list[Any]:
        return [self.old, self.new, self.run_session]

    def render(self, workspace: Workspace, tab: str | None, choice: str | None) -> list[Any]:
        """New choices only, and only when they changed: a list the user has open stays open, and what
        the user picked in these boxes stays."""
        self._selected[tab] = choice
        states = workspace.insight.diff_choices(tab)
        lists = (states, states, workspace.insight.session_choices())
        if self._sent.get(tab) == lists:
            return [gr.update() for _ in lists]
        self._sent[tab] = lists
        return [gr.update(choices=choices) for choices in lists]

    def wire(self, panel: Renders) -> None:
        insight = panel.workspace.insight

        def show(request: gr.Request, old: str | None, new: str | None, layout: str) -> list[Any]:
            tab = tab_of(request)
            html = insight.diff(tab, old or self._selected.get(tab), new or PAGE_CHOICE, layout)  # type: ignore[arg-type]  # a Radio of Layouts
            return [html] + panel.render(tab)

        def session_picked(session_id: str | None) -> Any:
            return gr.update(choices=insight.run_choices(session_id), value=None)

        def add(request: gr.Request, refs: list[str], session_id: str | None, choice: str | None) -> list[Any]:
            tab = tab_of(request)
            refs = insight.add_run(tab, refs, session_id, choice)
            return [refs, insight.runs(tab, refs)] + panel.render(tab)

        def clear(request: gr.Request) -> list[Any]:
            tab = tab_of(request)
            refs = insight.clear_runs(tab)
            return [refs, insight.runs(tab, refs)] + panel.render(tab)

        def count(request: gr.Request) -> list[Any]:
            tab = tab_of(request)
            return [insight.stats(tab)] + panel.render(tab)

        outputs = panel.outputs()
        # A press while the last one is still being drawn (a busy machine) runs after it instead of being
        # dropped, and choosing the other layout redraws the comparison at once.
        diff_inputs = [self.old, self.new, self.layout]
        self.show_diff.click(show, diff_inputs, [self.diff, *outputs], queue=False, show_progress="hidden",
                             trigger_mode="always_last")
        self.layout.input(show, diff_inputs, [self.diff, *outputs], queue=False, show_progress="hidden",
                          trigger_mode="always_last")
        self.run_session.input(session_picked, [self.run_session], [self.run_choice],
                               queue=False, show_progress="hidden")
        self.add_run.click(add, [self.runs, self.run_session, self.run_choice], [self.runs, self.compared, *outputs],
                           queue=False, show_progress="hidden")
        self.clear_runs.click(clear, None, [self.runs, self.compared, *outputs], queue=False, show_progress="hidden")
        self.count.click(count, None, [self.stats, *outputs], queue=False, show_progress="hidden")
