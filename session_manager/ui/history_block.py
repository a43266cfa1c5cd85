"""The history in the manager tab: the timeline (click a point to select it), notes, labels and pins of
checkpoints, tags and notes of the session, and the tree of its branches.

The pictures are HTML and SVG drawn by the page; a click on a point puts its picker value into a
hidden box (HISTORY_JS) whose input event selects it, so the selected point is always the one
Restore restores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from ..app.history_entries import id_time
from ..app.panel_state import is_saved_checkpoint
from ..app.workspace import Workspace
from ..timefmt import short
from .events import Renders, tab_of


@dataclass
class HistoryBlock:
    timeline: gr.HTML
    pick: gr.Textbox
    mark_title: gr.Markdown
    label: gr.Textbox
    note: gr.Textbox
    pinned: gr.Checkbox
    save_mark: gr.Button
    tags: gr.Textbox
    notes: gr.Textbox
    session_pinned: gr.Checkbox
    save_session: gr.Button
    tree: gr.HTML
    # per browser tab: what the note fields were last filled from (they are never refilled under the user's typing)
    _marked: dict[str | None, tuple[str | None, str | None]] = field(default_factory=dict)
    _described: dict[str | None, str | None] = field(default_factory=dict)

    @classmethod
    def build(cls) -> HistoryBlock:
        with gr.Accordion("History: timeline, notes and branches", open=True, elem_classes="sm-history"):
            timeline = gr.HTML("", elem_classes="sm-timeline-box")
            pick = gr.Textbox("", elem_id="sm-pick", elem_classes="sm-hidden", show_label=False, container=False)
            mark_title = gr.Markdown("", elem_classes="sm-mark-title")
            with gr.Row():
                label = gr.Textbox(label="Label", scale=2, elem_classes="sm-mark-label")
                note = gr.Textbox(label="Note (why this version matters)", lines=2, scale=4,
                                  elem_classes="sm-mark-note")
                with gr.Column(scale=1, min_width=150):
                    pinned = gr.Checkbox(label="Pinned (keeps its KV snapshot)", elem_classes="sm-mark-pinned")
                    save_mark = gr.Button("Save label and note", elem_classes="sm-mark-save")
            with gr.Row():
                tags = gr.Textbox(label="Session tags (comma-separated)", scale=2, elem_classes="sm-session-tags")
                notes = gr.Textbox(label="Session notes", lines=2, scale=4, elem_classes="sm-session-notes")
                with gr.Column(scale=1, min_width=150):
                    session_pinned = gr.Checkbox(label="Pinned session", elem_classes="sm-session-pinned")
                    save_session = gr.Button("Save session notes", elem_classes="sm-session-save")
            with gr.Accordion("Branches", open=True):
                tree = gr.HTML("", elem_classes="sm-tree-box")
        return cls(timeline, pick, mark_title, label, note, pinned, save_mark, tags, notes, session_pinned,
                   save_session, tree)

    def outputs(self) -> list[Any]:
        return [self.timeline, self.tree, self.mark_title, self.label, self.note, self.pinned, self.tags,
                self.notes, self.session_pinned]

    def render(self, workspace: Workspace, tab: str | None, choice: str | None) -> list[Any]:
        desk = workspace.history
        session_id = workspace.page(tab).session_id
        values: list[Any] = [desk.timeline(tab, choice), desk.tree(tab)]
        if self._marked.get(tab) != (session_id, choice):
            self._marked[tab] = (session_id, choice)
            title = (f"**Label, note and pin** of the checkpoint of {short(id_time(str(choice)))}"
                     if is_saved_checkpoint(choice) else "Select a saved checkpoint to label, note or pin it.")
            values += [title, *desk.mark_fields(tab, choice)]
        else:
            values += [gr.update()] * 4
        if self._described.get(tab, "") != session_id:
            self._described[tab] = session_id
            values += list(desk.session_fields(tab))
        else:
            values += [gr.update()] * 3
        return values

    def wire(self, panel: Renders) -> None:
        workspace = panel.workspace
        desk = workspace.history

        def save_mark(tab: str | None, label: str, note: str, pinned: bool) -> str | None:
            choice = self._marked.get(tab, (None, None))[1]
            desk.mark(tab, choice, label, note, pinned)
            return choice

        def pick(request: gr.Request, value: str) -> list[Any]:
            tab = tab_of(request)
            return panel.render(tab, selected=desk.pick(tab, value))

        self.pick.input(pick, [self.pick], panel.outputs(), queue=False, show_progress="hidden")
        self.save_mark.click(panel.handler(save_mark), [self.label, self.note, self.pinned], panel.outputs(),
                             queue=False)
        self.save_session.click(panel.handler(desk.save_session_fields), [self.tags, self.notes,
                                                                          self.session_pinned], panel.outputs(),
                                queue=False)


HISTORY_CSS = """
.sm-back, .sm-forward { white-space: nowrap; }
.sm-timeline { font-size: 0.85em; }
.sm-tl-head { opacity: 0.8; margin-bottom: 2px; }
.sm-tl-overview { width: 100%; height: auto; cursor: crosshair; display: block; }
.sm-tl-overview text, .sm-chart text, .sm-tree text { fill: var(--body-text-color); font-size: 11px; }
.sm-tree text { font-size: 13px; }
.sm-tl-axis, .sm-chart-axis { stroke: var(--border-color-primary, #94a3b8); stroke-width: 1; }
.sm-tl-grid { stroke: var(--border-color-primary, #cbd5e1); stroke-dasharray: 3 3; }
.sm-tl-growth { fill: none; stroke: #94a3b8; stroke-width: 1.2; }
.sm-tl-cursor { stroke: #f59e0b; stroke-width: 1.5; }
.sm-tl-selected { fill: none; stroke: #f59e0b; stroke-width: 2.5; }
.sm-tl-kv { stroke: var(--body-text-color, #111); stroke-width: 1.6; }
.sm-tl-autosave { fill: #9ca3af; }
.sm-tl-pin { fill: #eab308; }
.sm-tl-branch { stroke: #9333ea; stroke-width: 2; }
.sm-tl-here { fill: var(--body-text-color, #111); }
.sm-legend { display: flex; flex-wrap: wrap; gap: 10px; margin: 2px 0 6px; opacity: 0.85; }
.sm-legend-item i, .sm-dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%;
                             margin-right: 4px; vertical-align: middle; }
.sm-tl-rows { border-top: 1px solid var(--border-color-primary); }
.sm-tl-row { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; padding: 3px 6px; cursor: pointer;
             border-bottom: 1px solid var(--border-color-primary); }
.sm-tl-row:hover { background: var(--background-fill-secondary); }
.sm-tl-row-selected { background: rgba(245, 158, 11, 0.18) !important; }
.sm-tl-time { font-variant-numeric: tabular-nums; }
.sm-tl-trigger, .sm-tl-size, .sm-tl-kvinfo { opacity: 0.75; }
.sm-tl-pinned { color: #ca8a04; font-weight: 600; }
.sm-tl-note { font-style: italic; opacity: 0.9; }
.sm-tl-branchlink { color: #9333ea; text-decoration: underline; }
.sm-tl-herenote { font-weight: 600; }
.sm-tl-more, .sm-empty { opacity: 0.7; padding: 4px 0; }
.sm-tree { width: 100%; display: block; }
.sm-tree-node { cursor: pointer; }
.sm-tree-node circle { fill: #9333ea; }
.sm-tree-current circle { fill: #f59e0b; }
.sm-tree-current text { font-weight: 700; }
.sm-tree-edge { fill: none; stroke: #9333ea; stroke-width: 1.5; }
.sm-diff-head { display: flex; flex-wrap: wrap; gap: 16px; margin: 4px 0; }
.sm-diff-old { color: #b91c1c; } .sm-diff-new { color: #15803d; } .sm-diff-count { opacity: 0.75; }
.sm-diff ins { background: rgba(22, 163, 74, 0.22); text-decoration: none; }
.sm-diff del { background: rgba(220, 38, 38, 0.2); text-decoration: line-through; }
.sm-diff-text, .sm-diff-sides td { white-space: pre-wrap; line-height: 1.5; }
.sm-diff-sides { width: 100%; table-layout: fixed; }
.sm-diff-sides td { vertical-align: top; padding: 6px 10px; }
.sm-diff-changed td { background: var(--background-fill-secondary); }
.sm-diff-fold { opacity: 0.6; font-style: italic; margin: 0 0.4em; }
.sm-diff-params caption { text-align: left; font-weight: 600; }
.sm-stats-all { display: flex; flex-wrap: wrap; gap: 24px; }
.sm-stats { flex: 1 1 420px; }
.sm-stats-title { font-weight: 600; margin-bottom: 4px; }
.sm-stats-table th, .sm-stats-table td { padding: 3px 8px; text-align: left; }
.sm-stats-table th { font-weight: 500; opacity: 0.8; }
.sm-chart { width: 100%; height: auto; margin-top: 6px; }
.sm-chart-bar { fill: #2563eb; }
.sm-cmp-table { width: 100%; table-layout: fixed; }
.sm-cmp-table th, .sm-cmp-table td { vertical-align: top; padding: 4px 8px; text-align: left; }
.sm-cmp-differs td { background: rgba(245, 158, 11, 0.18); }
.sm-cmp-when { font-weight: 400; opacity: 0.7; font-size: 0.85em; }
.sm-cmp-text { white-space: pre-wrap; }
"""

# A click on a picture: the point's value (or, on the overview, the point nearest the click) goes into the
# hidden #sm-pick box, whose input event selects it. One listener for the whole page.
HISTORY_JS = """
document.addEventListener('click', (event) => {
  const el = event.target.closest ? event.target.closest('[data-sm-pick], .sm-tl-overview') : null;
  if (!el) return;
  let value = el.getAttribute('data-sm-pick');
  if (!value) {
    const choices = (el.getAttribute('data-sm-choices') || '').split(',');
    const box = el.getBoundingClientRect();
    const x = (event.clientX - box.left) / box.width * parseFloat(el.getAttribute('data-sm-width'));
    const step = parseFloat(el.getAttribute('data-sm-step')) || 1;
    const index = Math.round((x - parseFloat(el.getAttribute('data-sm-left'))) / step);
    value = choices[Math.max(0, Math.min(choices.length - 1, index))];
  }
  const field = document.querySelector('#sm-pick textarea, #sm-pick input');
  if (!field || !value) return;
  field.value = value + '|' + Date.now();
  field.dispatchEvent(new Event('input', {bubbles: true}));
});
"""
