"""The panel in textgen's page: the manager in its own tab, a quick bar under each input."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ...recorder import RestoreResult
from ...ui import PageBinding, Panel
from ...workspace import Workspace
from .host import jsonable
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
    two_columns = g["show_two_notebook_columns"]
    binding = PageBinding(
        input_box=g["textbox-default"], output_box=g["output_textbox"], notebook_box=g["textbox-notebook"],
        mode_inputs=[two_columns], mode_of=lambda two: "default" if two else "notebook",
        params={name: g[name] for name in param_names(not_params)}, param_value=jsonable,
        link_inputs=[g["prompt_menu-default"], g["prompt_menu-notebook"], two_columns],
        link_of=lambda default, notebook, two: prompt_link(default if two else notebook),
        fill_on_load=False,  # textgen shows its page state at load; a restore writes through it
        restore_extras=[g["model_status"]] if "model_status" in g else [],
        restore_extra_values=_model_status if "model_status" in g else lambda result: [],
    )
    panel = Panel(workspace)
    panel.manager()
    # Re-enter the columns that hold the two inputs, so the quick bar sits where people write.
    for anchor in (g["textbox-default"], g["textbox-notebook"]):
        column = _enclosing_column(anchor)
        if column is not None:
            with column:
                panel.quick_bar()
    panel.finish(g["interface"], binding)


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
