"""Buttons that put a saved state into the page (Restore, Back, Forward): the restored view's components
get the state's values, then every view is rendered, with the picker on what was restored.

Back and Forward count every press, also one made while the last is still answered (Gradio drops those by
default): a tab's writes run one at a time, each acting and rendering before the next begins, so that their
answers reach the page in the order they were made.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import gradio as gr

from ..recording.recorder import Restored
from .binding import Binding, ChatBinding
from .events import Renders, tab_of

# act(tab, *input values) -> (what was restored or None, the picker value to show)
Act = Callable[..., tuple[Restored | None, str | None]]

# The tabs' writes one at a time: a few locks shared out by tab (two tabs on one lock only wait for each other).
_TAB_LOCKS = [threading.Lock() for _ in range(16)]


def wire_page_writer(panel: Renders, button: gr.Button, inputs: list[Any], bindings: list[Binding], act: Act,
                     every_press: bool = False) -> None:
    """``every_press``: a press while the last one is still answered counts too (Back, Forward)."""
    page_outputs = [c for b in bindings for c in b.page_components + b.restore_extras]
    workspace = panel.workspace

    def write(request: gr.Request, *values: Any) -> list[Any]:
        tab = tab_of(request)
        with _TAB_LOCKS[hash(tab) % len(_TAB_LOCKS)]:
            return written_and_rendered(tab, *values)

    def written_and_rendered(tab: str | None, *values: Any) -> list[Any]:
        result, selected = act(tab, *values)
        restored_view = result.view if result is not None else None
        written: list[Any] = []
        for binding in bindings:
            if result is not None and binding.view == restored_view:
                written += binding.page_values(workspace.page(tab, binding.view).content)
                written += binding.restore_extra_values(result.result)
            else:
                written += [gr.update() for _ in binding.page_components + binding.restore_extras]
        return written + panel.render(tab, selected=selected)

    event = button.click(write, inputs, page_outputs + panel.outputs(), queue=False, show_progress="hidden",
                         trigger_mode="multiple" if every_press else "once")
    for binding in bindings:
        if isinstance(binding, ChatBinding):  # the chat display is drawn from the restored history
            event = event.then(binding.render, [binding.history, *binding.context_inputs], [binding.display],
                               queue=False, show_progress="hidden")
