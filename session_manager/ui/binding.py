"""How the panel reaches a host's views: their components, how they read as a page, what they follow.

A host has one binding per kind of view: the text view (Default and Notebook, ``PageBinding``)
and the chat (``ChatBinding``). Each browser tab has one page per binding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from ..models import ChatContext, HostLink, Mode
from ..recording.page_mirror import PageContent
from ..recording.recorder import RestoreResult


@dataclass
class Binding:
    """What every view binding has: parameters, what the view follows, what a restore also updates."""

    # The generation parameters, by name; param_value makes a component's value storable (JSON).
    params: dict[str, Any] = field(default_factory=dict)
    param_value: Callable[[Any], Any] = lambda value: value
    # What the view follows in the host (textgen's prompt menus, its chat id): link_of(*values) names it.
    link_inputs: list[Any] = field(default_factory=list)
    link_of: Callable[..., HostLink | None] = lambda *values: None
    # Whether the panel fills the view at page load (the demo) or the host does it itself (textgen).
    fill_on_load: bool = True
    # Host components a restore also updates (textgen's model status), and their values afterwards.
    restore_extras: list[Any] = field(default_factory=list)
    restore_extra_values: Callable[[RestoreResult], list[Any]] = lambda result: []

    view = "text"

    @property
    def page_components(self) -> list[Any]:
        """What a restore (or a page load) writes: the view's own components, then the parameters."""
        return self.own_components() + list(self.params.values())

    def page_values(self, content: PageContent) -> list[Any]:
        """Values for page_components; a parameter the checkpoint does not know (or knows as None) stays."""
        params = [content.params[name] if content.params.get(name) is not None else gr.update()
                  for name in self.params]
        return self.own_values(content) + params

    # ----- per kind of view ---------------------------------------------------------------------

    def own_components(self) -> list[Any]:
        raise NotImplementedError

    def own_values(self, content: PageContent) -> list[Any]:
        raise NotImplementedError

    def mirror_inputs(self) -> list[Any]:
        """The components whose values describe the page (read by content_of)."""
        raise NotImplementedError

    def content_of(self, *values: Any) -> dict[str, Any]:
        """PageContent fields from the values of mirror_inputs."""
        raise NotImplementedError


@dataclass
class PageBinding(Binding):
    """textgen's Notebook tab: the Default view (input and output) and the Notebook view (one text)."""

    input_box: gr.Textbox | None = None
    output_box: gr.Textbox | None = None
    notebook_box: gr.Textbox | None = None
    # Components whose values say which view is shown (mode_of turns their values into the mode,
    # mode_values turns a mode back into their values).
    mode_inputs: list[Any] = field(default_factory=list)
    mode_of: Callable[..., Mode] = lambda *values: "default"
    mode_values: Callable[[Mode], list[Any]] = lambda mode: []

    @property
    def text_boxes(self) -> list[gr.Textbox]:
        return [box for box in (self.input_box, self.output_box, self.notebook_box) if box is not None]

    def own_components(self) -> list[Any]:
        return self.text_boxes + list(self.mode_inputs)

    def own_values(self, content: PageContent) -> list[Any]:
        """The content's own view, shown, and only its boxes: in textgen both views save into one prompt
        file, so writing the hidden view's box would make textgen save that text over this one."""
        keep = gr.update()
        if content.mode == "notebook":
            boxes = [keep, keep, content.input_text]
        else:
            boxes = [content.input_text, content.output_text, keep]
        modes = self.mode_values(content.mode) or [keep for _ in self.mode_inputs]
        return boxes[: len(self.text_boxes)] + modes

    def mirror_inputs(self) -> list[Any]:
        return self.text_boxes + list(self.mode_inputs)

    def content_of(self, *values: Any) -> dict[str, Any]:
        n = len(self.text_boxes)
        boxes = list(values[:n]) + [None] * (3 - n)
        mode = self.mode_of(*values[n:])
        if mode == "notebook":
            return {"mode": mode, "input_text": boxes[2] or "", "output_text": ""}
        return {"mode": mode, "input_text": boxes[0] or "", "output_text": boxes[1] or ""}


@dataclass
class ChatBinding(Binding):
    """A chat: its history (textgen's {internal, visible, metadata}) and who is talking, and how.

    ``context_inputs`` are read by ``context_of`` into a ChatContext (textgen: chat id, mode,
    character, user name); ``render(history, *context values)`` gives the display's value.
    """

    history: Any = None
    display: Any = None
    context_inputs: list[Any] = field(default_factory=list)
    context_of: Callable[..., ChatContext] = lambda *values: ChatContext()
    render: Callable[..., Any] = lambda history, *values: history
    view = "chat"

    def own_components(self) -> list[Any]:
        return [self.history, self.display]

    def own_values(self, content: PageContent) -> list[Any]:
        history = content.history or {"internal": [], "visible": [], "metadata": {}}
        # With context to read, the display is redrawn from the history by a follow-up event.
        return [history, gr.update() if self.context_inputs else self.render(history)]

    def mirror_inputs(self) -> list[Any]:
        return [self.history, *self.context_inputs]

    def content_of(self, *values: Any) -> dict[str, Any]:
        history = values[0] if isinstance(values[0], dict) else None
        return {"mode": "chat", "input_text": "", "output_text": "", "history": history,
                "chat": self.context_of(*values[1:])}
