"""The panel in textgen's page: the manager in its own tab, a quick bar under each input."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ...app.workspace import Workspace
from ...recording.recorder import RestoreResult
from ...ui import ChatBinding, PageBinding, Panel
from .chat_replies import chat_context, chat_link
from .host_adapter import jsonable
from .prompts import prompt_link


def param_names(not_params: set[str]) -> list[str]:
    """textgen's generation parameters: its interface inputs less the text, the chat and the model."""
    from modules import shared, ui

    model_elements = set(ui.list_model_elements())
    return [n for n in shared.input_elements
            if n not in not_params and n not in model_elements and n in shared.gradio and not n.startswith("image_")]


def build_interface(workspace: Workspace, not_params: set[str]) -> None:
    from modules import shared

    g = shared.gradio
    params = {name: g[name] for name in param_names(not_params)}
    extras = {"restore_extras": [g["model_status"]], "restore_extra_values": _model_status} \
        if "model_status" in g else {}
    two_columns = g["show_two_notebook_columns"]
    text = PageBinding(
        input_box=g["textbox-default"], output_box=g["output_textbox"], notebook_box=g["textbox-notebook"],
        mode_inputs=[two_columns], mode_of=lambda two: "default" if two else "notebook",
        mode_values=lambda mode: [mode != "notebook"],
        params=params, param_value=jsonable,
        link_inputs=[g["prompt_menu-default"], g["prompt_menu-notebook"], two_columns],
        link_of=lambda default, notebook, two: prompt_link(default if two else notebook),
        fill_on_load=False,  # textgen shows its page state at load; a restore writes through it
        **extras,
    )
    chat = ChatBinding(
        history=g["history"], display=g["display"],
        context_inputs=[g[name] for name in CHAT_CONTEXT],
        context_of=lambda *values: chat_context(dict(zip(CHAT_CONTEXT, values, strict=True))),
        render=_redraw_chat, params=params, param_value=jsonable,
        link_inputs=[g["unique_id"], g["character_menu"], g["mode"]], link_of=chat_link,
        fill_on_load=False, **extras,
    )
    panel = Panel(workspace)
    panel.manager()
    # Re-enter the columns that hold the inputs, so a quick bar sits where people write.
    for anchor, binding in ((g["textbox-default"], text), (g["textbox-notebook"], text), (g["html_display"], chat)):
        column = _enclosing_column(anchor)
        if column is not None:
            with column:
                panel.quick_bar(binding)
    panel.finish(g["interface"], [text, chat])


# textgen's chat column is one screen high, its input row pinned to the bottom: the timeline sits just
# above that row, and the chat view above the timeline gives way to it.
CSS = """
#chat-col > .sm-chat-bar { flex: 0 0 auto !important; width: calc(100% - 20px); max-width: 48rem;
                           margin: -60px auto 84px; position: relative; z-index: 10; }
"""

# What textgen's state says about a chat, in the order _redraw_chat and chat_context read it.
CHAT_CONTEXT = ("unique_id", "mode", "character_menu", "name1", "name2", "chat_style")


def _redraw_chat(history: dict[str, Any], unique_id: str, mode: str, character: str, name1: str, name2: str,
                 style: str) -> Any:
    from modules import chat

    return chat.redraw_html(history, name1, name2, mode, style, character)


def _model_status(result: RestoreResult) -> list[Any]:
    """textgen's Model tab message, which would still name the model loaded there before."""
    if result.model_loaded is None:
        return [gr.update()]
    return [f"Loaded `{result.model_loaded}` from a Session Manager checkpoint. (The model menu above still shows "
            "the model chosen here before.)"]


def _enclosing_column(component: Any) -> Any:
    parent = getattr(component, "parent", None)
    while parent is not None and not isinstance(parent, gr.Column):
        parent = getattr(parent, "parent", None)
    return parent
