"""How the panel reaches a host's page: its text boxes, its parameters, and what it follows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from ..models import HostLink, Mode
from ..page import PageContent
from ..recorder import RestoreResult


@dataclass
class PageBinding:
    input_box: gr.Textbox
    output_box: gr.Textbox
    notebook_box: gr.Textbox | None = None
    # Components whose values say which view is shown (mode_of turns their values into the mode).
    mode_inputs: list[Any] = field(default_factory=list)
    mode_of: Callable[..., Mode] = lambda *values: "default"
    # The generation parameters, by name; param_value makes a component's value storable (JSON).
    params: dict[str, Any] = field(default_factory=dict)
    param_value: Callable[[Any], Any] = lambda value: value
    # What the page follows in the host (textgen's prompt menus): link_of(*values) names it.
    link_inputs: list[Any] = field(default_factory=list)
    link_of: Callable[..., HostLink | None] = lambda *values: None
    # The demo fills its boxes from the recorder at page load; textgen does that itself.
    fill_on_load: bool = True
    # Host components a restore also updates (textgen's model menu), and their values afterwards.
    restore_extras: list[Any] = field(default_factory=list)
    restore_extra_values: Callable[[RestoreResult], list[Any]] = lambda result: []

    @property
    def text_boxes(self) -> list[gr.Textbox]:
        return [self.input_box, self.output_box] + ([self.notebook_box] if self.notebook_box else [])

    @property
    def page_components(self) -> list[Any]:
        """What a restore (or a page load) writes: the text boxes, then the parameters."""
        return self.text_boxes + list(self.params.values())

    def page_values(self, content: PageContent) -> list[Any]:
        """Values for page_components that show ``content``."""
        if content.mode == "notebook":
            boxes = [content.input_text, content.input_text, content.input_text]
        else:
            boxes = [content.input_text, content.output_text, content.text]
        boxes = boxes[: len(self.text_boxes)]
        return boxes + [content.params.get(name, gr.update()) for name in self.params]

    def texts_of(self, mode: Mode, input_text: str, output_text: str, notebook_text: str | None) -> dict[str, str]:
        """The page's text fields for ``mode``: the Notebook view is one text, kept as the input."""
        if mode == "notebook":
            return {"input_text": notebook_text or "", "output_text": ""}
        return {"input_text": input_text or "", "output_text": output_text or ""}
