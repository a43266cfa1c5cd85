"""The panel's views: typed groups of components, each rendering a ``PanelState``.

A quick bar sits where people write (one per host view); the manager fills its own tab.
Every event renders every view, so all of them agree after any action.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from ..app.panel_state import PanelState, SelectionDetails
from .session_table import SessionTableView


@dataclass
class QuickBarView:
    picker: gr.Dropdown
    save: gr.Button
    restore: gr.Button
    back: gr.Button
    forward: gr.Button
    status: gr.Markdown

    @classmethod
    def build(cls, view: str = "text") -> QuickBarView:
        """A bar for a host view; a chat's bar is its timeline: pick a turn, Restore rewinds to it.
        Back and Forward step through the page's own history (undo and redo)."""
        chat = view == "chat"
        with gr.Column(elem_classes=["sm-bar", f"sm-{view}-bar"]):
            with gr.Row(elem_classes="sm-quick-bar"):
                picker = gr.Dropdown(label="Chat timeline" if chat else "Checkpoint", choices=[], value=None,
                                     interactive=True, scale=4, min_width=280, elem_classes="sm-picker")
                save = gr.Button("Save checkpoint", variant="primary", scale=1, min_width=140,
                                 elem_classes="sm-save")
                restore = gr.Button("Rewind" if chat else "Restore", scale=1, min_width=100,
                                    elem_classes="sm-restore")
                back = gr.Button("◀ Back", scale=1, min_width=96, elem_classes="sm-back")
                forward = gr.Button("Forward ▶", scale=1, min_width=112, elem_classes="sm-forward")
            status = gr.Markdown("", elem_classes="sm-status")
        return cls(picker, save, restore, back, forward, status)

    def outputs(self) -> list[Any]:
        return [self.picker, self.status]

    def render(self, state: PanelState, selected: str | None, keep: bool = False) -> list[Any]:
        """``keep``: leave the picker's value alone (the user may have picked another entry meanwhile)."""
        return [_picker(state, selected, keep), state.status_line]


@dataclass
class ManagerView:
    search: gr.Textbox
    sessions: gr.Dropdown
    refresh: gr.Button
    name: gr.Textbox
    create: gr.Button
    rename: gr.Button
    branch: gr.Button
    delete: gr.Button
    confirm_row: gr.Row
    confirm_text: gr.Markdown
    confirm: gr.Button
    cancel: gr.Button
    pending: gr.State
    picker: gr.Dropdown
    label: gr.Textbox
    save: gr.Button
    restore: gr.Button
    load_model: gr.Checkbox
    delete_checkpoint: gr.Button
    kv_info: gr.Markdown
    status: gr.Markdown
    preview: gr.Code
    table: SessionTableView  # the store a page at a time; rendered and wired as one of the panel's blocks

    @classmethod
    def build(cls, load_model_default: bool) -> ManagerView:
        with gr.Row():
            search = gr.Textbox(label="Search sessions", placeholder="words, or tag:NAME",
                                scale=2, elem_classes="sm-search")
            sessions = gr.Dropdown(label="Session", choices=[], value=None, interactive=True, scale=4,
                                   elem_classes="sm-sessions")
            refresh = gr.Button("Refresh", scale=0, min_width=90, elem_classes="sm-refresh")
        table = SessionTableView.build(search)
        with gr.Row():
            name = gr.Textbox(label="Name", placeholder="name for a new session or a rename", scale=3,
                              elem_classes="sm-name")
            create = gr.Button("New session", scale=1, elem_classes="sm-new")
            rename = gr.Button("Rename", scale=1, elem_classes="sm-rename")
            branch = gr.Button("Branch from checkpoint", scale=1, elem_classes="sm-branch")
            delete = gr.Button("Delete session", variant="stop", scale=1, elem_classes="sm-delete")
        with gr.Row(visible=False) as confirm_row:
            confirm_text = gr.Markdown("", elem_classes="sm-confirm-text")
            confirm = gr.Button("Yes, delete", variant="stop", elem_classes="sm-confirm")
            cancel = gr.Button("Cancel", elem_classes="sm-cancel")
        pending = gr.State(None)
        with gr.Row():
            picker = gr.Dropdown(label="Checkpoint", choices=[], value=None, interactive=True, scale=4,
                                 elem_classes="sm-manager-picker")
            label = gr.Textbox(label="Label for a new checkpoint", scale=2, elem_classes="sm-label")
        with gr.Row():
            save = gr.Button("Save checkpoint", variant="primary", elem_classes="sm-manager-save")
            restore = gr.Button("Restore", elem_classes="sm-manager-restore")
            load_model = gr.Checkbox(label="Load model", value=load_model_default, elem_classes="sm-load-model")
            delete_checkpoint = gr.Button("Delete checkpoint", variant="stop", elem_classes="sm-delete-checkpoint")
        kv_info = gr.Markdown("", elem_classes="sm-kv-info")
        status = gr.Markdown("", elem_classes="sm-status")
        with gr.Accordion("Checkpoint JSON", open=False):
            preview = gr.Code(language="json", label="Selected checkpoint", interactive=False)
        return cls(search, sessions, refresh, name, create, rename, branch, delete, confirm_row, confirm_text,
                   confirm, cancel, pending, picker, label, save, restore, load_model, delete_checkpoint, kv_info,
                   status, preview, table)

    def outputs(self) -> list[Any]:
        return [self.sessions, self.picker, self.status, self.kv_info, self.preview]

    def render(self, state: PanelState, selected: str | None, details: SelectionDetails, keep: bool = False) \
            -> list[Any]:
        return [gr.update(choices=state.sessions, value=state.session_id), _picker(state, selected, keep),
                state.status, details.kv_info, details.preview]


def _picker(state: PanelState, selected: str | None, keep: bool) -> Any:
    return gr.update(choices=state.checkpoints) if keep else gr.update(choices=state.checkpoints, value=selected)
