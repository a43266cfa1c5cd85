"""The panel: builds the views, mirrors the page into the recorder, and wires every event.

Each event handler learns its browser tab from Gradio's request, asks the workspace to act,
and renders every view from the tab's fresh ``PanelState``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from ..workspace import Workspace
from .binding import PageBinding
from .manager import wire_manager
from .settings_block import build_settings
from .transfer_block import TransferBlock
from .views import ManagerView, QuickBarView

TICK_SECONDS = 3


def tab_of(request: gr.Request | None) -> str | None:
    """The browser tab an event came from (each page load has its own session hash)."""
    return getattr(request, "session_hash", None) or None


class Panel:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.quick_bars: list[QuickBarView] = []
        self.manager_view: ManagerView | None = None
        self.transfer: TransferBlock | None = None

    # ----- building -------------------------------------------------------------------------

    def quick_bar(self) -> QuickBarView:
        view = QuickBarView.build()
        self.quick_bars.append(view)
        return view

    def manager(self) -> ManagerView:
        self.manager_view = ManagerView.build(self.workspace.settings.current.load_model_on_restore)
        self.transfer = TransferBlock.build()
        build_settings(self.workspace)
        return self.manager_view

    def finish(self, blocks: gr.Blocks, binding: PageBinding) -> None:
        """Wire every event; call once, after quick_bar() and manager() have built their views."""
        for bar in self.quick_bars:
            self._wire_save(binding, bar.save, label=None)
            self._wire_restore(binding, bar.restore, bar.picker, load_model=None)
        if self.manager_view is not None:
            view = self.manager_view
            self._wire_save(binding, view.save, label=view.label)
            self._wire_restore(binding, view.restore, view.picker, load_model=view.load_model)
            wire_manager(self, view)
        if self.transfer is not None:
            self.transfer.wire(self)
        self._mirror(binding)
        self._install_tick()
        self._wire_load(blocks, binding)

    # ----- rendering ------------------------------------------------------------------------

    def outputs(self) -> list[Any]:
        views: list[Any] = [*self.quick_bars, *([self.manager_view] if self.manager_view else [])]
        return [component for view in views for component in view.outputs()]

    def pickers(self) -> list[gr.Dropdown]:
        return [bar.picker for bar in self.quick_bars] + ([self.manager_view.picker] if self.manager_view else [])

    def render(self, tab: str | None, selected: str | None = None, kept: list[str | None] | None = None,
               query: str = "") -> list[Any]:
        """Fresh values for every view. ``selected`` goes into every picker; ``kept`` gives each picker
        its own current value back (a background refresh must not move a selection the user made)."""
        state = self.workspace.state(tab, query)
        values: list[Any] = []
        for index, bar in enumerate(self.quick_bars):
            values += bar.render(state, state.valid(kept[index] if kept is not None else selected))
        if self.manager_view is not None:
            choice = state.valid(kept[-1] if kept is not None else selected)
            values += self.manager_view.render(state, choice, self.workspace.details(tab, choice))
        return values

    def handler(self, action: Callable[..., Any]) -> Callable[..., list[Any]]:
        """An event handler: ``action(tab, *values)`` acts and may return the choice to select."""

        def handle(request: gr.Request, *values: Any) -> list[Any]:
            tab = tab_of(request)
            return self.render(tab, selected=action(tab, *values))

        return handle

    # ----- events ---------------------------------------------------------------------------

    def _wire_save(self, binding: PageBinding, button: gr.Button, label: gr.Textbox | None) -> None:
        inputs = self._mirror_inputs(binding) + ([label] if label is not None else [])

        def save(tab: str | None, *values: Any) -> str | None:
            label_text = values[-1] if label is not None else ""
            self._mirror_values(tab, binding, values[:-1] if label is not None else values)
            return self.workspace.save(tab, label_text or "")

        button.click(self.handler(save), inputs, self.outputs(), queue=False)

    def _wire_restore(self, binding: PageBinding, button: gr.Button, picker: gr.Dropdown,
                      load_model: gr.Checkbox | None) -> None:
        inputs = [picker] + ([load_model] if load_model is not None else [])
        page_outputs = binding.page_components + binding.restore_extras

        def restore(request: gr.Request, choice: str | None, *load: bool) -> list[Any]:
            tab = tab_of(request)
            result = self.workspace.restore(tab, choice, load[0] if load else None)
            if result is None:
                page = [gr.update() for _ in page_outputs]
            else:
                page = binding.page_values(self.workspace.page(tab).content) + binding.restore_extra_values(result)
            return page + self.render(tab, selected=choice)

        button.click(restore, inputs, page_outputs + self.outputs(), queue=False)

    def _mirror_inputs(self, binding: PageBinding) -> list[Any]:
        return binding.text_boxes + list(binding.mode_inputs)

    def _mirror_values(self, tab: str | None, binding: PageBinding, values: tuple[Any, ...],
                       by_user: bool = False) -> None:
        boxes = list(values[: len(binding.text_boxes)]) + [None]
        mode = binding.mode_of(*values[len(binding.text_boxes):])
        texts = binding.texts_of(mode, boxes[0], boxes[1], boxes[2])
        self.workspace.page(tab).update(by_user=by_user, mode=mode, **texts)

    def _mirror(self, binding: PageBinding) -> None:
        """Every change of the page reaches the tab's mirror; the user's own edits make it dirty."""
        inputs = self._mirror_inputs(binding)

        def mirror(by_user: bool) -> Callable[..., None]:
            def on_change(request: gr.Request, *values: Any) -> None:
                self._mirror_values(tab_of(request), binding, values, by_user)
            return on_change

        for component in binding.text_boxes + list(binding.mode_inputs):
            component.change(mirror(False), inputs, None, queue=False, trigger_mode="always_last",
                             show_progress="hidden")
        for box in binding.text_boxes:
            box.input(mirror(True), inputs, None, queue=False, trigger_mode="always_last", show_progress="hidden")
        for name, component in binding.params.items():
            for event, by_user in (("change", False), ("input", True)):
                listener = getattr(component, event, None)
                if listener is not None:
                    listener(self._param_mirror(binding, name, by_user), [component], None, queue=False,
                             trigger_mode="always_last", show_progress="hidden")

    def _param_mirror(self, binding: PageBinding, name: str, by_user: bool) -> Callable[..., None]:
        def on_change(request: gr.Request, value: Any) -> None:
            self.workspace.page(tab_of(request)).update_param(name, binding.param_value(value), by_user)
        return on_change

    def _install_tick(self) -> None:
        """A hidden button that the page's script clicks every few seconds: background saves show up."""
        seen = gr.State(None)
        button = gr.Button("tick", elem_id="sm-tick", elem_classes="sm-hidden")

        def tick(request: gr.Request, last: Any, *pickers: str | None) -> list[Any]:
            tab = tab_of(request)
            now = self.workspace.revision(tab)
            if now == last:
                return [last] + [gr.update() for _ in self.outputs()]
            return [now] + self.render(tab, kept=list(pickers))

        button.click(tick, [seen, *self.pickers()], [seen, *self.outputs()], queue=False, show_progress="hidden")

    def _wire_load(self, blocks: gr.Blocks, binding: PageBinding) -> None:
        """On every page load: the tab's page (following what the host shows), its views, and, where the
        host does not do it itself, the page's text."""
        fill = binding.page_components if binding.fill_on_load else []

        def on_load(request: gr.Request, *links: Any) -> list[Any]:
            tab = tab_of(request)
            page = self.workspace.page(tab)
            if binding.link_inputs:
                self.workspace.follow(tab, binding.link_of(*links))
            values = binding.page_values(page.content) if fill and not page.content.empty else \
                [gr.update() for _ in fill]
            return values + self.render(tab)

        def on_link(request: gr.Request, *links: Any) -> None:
            self.workspace.follow(tab_of(request), binding.link_of(*links))

        blocks.load(on_load, binding.link_inputs, fill + self.outputs(), queue=False)
        for component in binding.link_inputs:
            component.change(on_link, binding.link_inputs, None, queue=False, show_progress="hidden")


CSS = """
.sm-hidden { display: none !important; }
.sm-quick-bar { align-items: end; }
.sm-status p { font-size: 0.9em; opacity: 0.85; margin: 0; }
"""

JS = f"""
setInterval(() => {{
  const button = document.getElementById('sm-tick');
  if (button && document.visibilityState === 'visible') button.click();
}}, {TICK_SECONDS * 1000});
"""
