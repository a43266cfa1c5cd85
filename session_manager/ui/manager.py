"""The manager tab's events: sessions (search, select, create, rename, branch, delete) and checkpoints."""

from __future__ import annotations

from typing import Any

import gradio as gr

from .events import Renders, tab_of
from .views import ManagerView


def wire_manager(panel: Renders, view: ManagerView) -> None:
    workspace = panel.workspace
    outputs = panel.outputs()
    confirm_outputs = [view.confirm_row, view.confirm_text, view.pending]
    hidden = (gr.update(visible=False), "", None)

    def search(request: gr.Request, query: str) -> Any:
        state = workspace.state(tab_of(request), query or "")
        return gr.update(choices=state.sessions, value=state.session_id)

    def pick(request: gr.Request, choice: str | None) -> tuple[str, str]:
        details = workspace.details(tab_of(request), choice)
        return details.kv_info, details.preview

    def ask(request: gr.Request, choice: str | None = None) -> tuple[Any, str, Any]:
        tab = tab_of(request)
        question = workspace.confirm_question(tab, choice)
        if not question:
            return hidden
        page = workspace.page(tab)
        return gr.update(visible=True), question, {"session": page.session_id, "checkpoint": choice}

    def ask_session(request: gr.Request) -> tuple[Any, str, Any]:
        return ask(request)

    def confirm(tab: str | None, pending: dict[str, Any] | None) -> None:
        if not pending:
            return
        if pending.get("checkpoint"):
            workspace.delete_checkpoint(tab, pending["checkpoint"])
        else:
            workspace.delete_session(tab, pending["session"])

    view.search.change(search, [view.search], [view.sessions], queue=False, show_progress="hidden")
    view.refresh.click(panel.handler(lambda tab: None), None, outputs, queue=False, show_progress="hidden")
    view.sessions.input(panel.handler(workspace.select_session), [view.sessions], outputs,
                        queue=False, show_progress="hidden")
    view.picker.input(pick, [view.picker], [view.kv_info, view.preview], queue=False, show_progress="hidden")
    view.create.click(panel.handler(workspace.new_session), [view.name], outputs, queue=False, show_progress="hidden")
    view.rename.click(panel.handler(workspace.rename), [view.name], outputs, queue=False, show_progress="hidden")
    view.branch.click(panel.handler(workspace.branch), [view.picker, view.name], outputs,
                      queue=False, show_progress="hidden")
    view.delete.click(ask_session, None, confirm_outputs, queue=False, show_progress="hidden")
    view.delete_checkpoint.click(ask, [view.picker], confirm_outputs, queue=False, show_progress="hidden")
    view.cancel.click(lambda: hidden, None, confirm_outputs, queue=False, show_progress="hidden")
    view.confirm.click(panel.handler(confirm), [view.pending], outputs, queue=False, show_progress="hidden").then(
        lambda: hidden, None, confirm_outputs, queue=False, show_progress="hidden")
