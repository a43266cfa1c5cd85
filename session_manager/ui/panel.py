"""The panel: builds the views, mirrors each host view into its page, and wires every event.

Each event handler learns its browser tab from Gradio's request, asks the workspace to act,
and renders every view from the tab's fresh ``PanelState``. A quick bar belongs to one host
view (its binding); the manager follows the view the tab used last.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from ..app.workspace import Workspace
from .binding import Binding, ChatBinding
from .events import tab_of
from .exchange_block import TransferBlock
from .history_block import HISTORY_CSS, HISTORY_JS, HistoryBlock
from .insight_block import InsightBlock
from .manager import wire_manager
from .refresh import JS as REFRESH_JS
from .refresh import MARK_LOADED_JS, PickerPositions, install_tick, wire_opening
from .restoring import wire_page_writer
from .session_table import CSS as TABLE_CSS
from .session_table import SessionTableView
from .settings_block import build_settings
from .views import ManagerView, QuickBarView


class Panel:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.bindings: list[Binding] = []
        self.quick_bars: list[tuple[QuickBarView, Binding]] = []
        self.manager_view: ManagerView | None = None
        self.transfer: TransferBlock | None = None
        self.extras: list[HistoryBlock | InsightBlock] = []  # blocks of the manager tab that every render fills
        self.positions = PickerPositions()

    # ----- building -------------------------------------------------------------------------

    def quick_bar(self, binding: Binding) -> QuickBarView:
        view = QuickBarView.build(binding.view)
        self.quick_bars.append((view, binding))
        return view

    def manager(self) -> ManagerView:
        self.manager_view = ManagerView.build(self.workspace.settings.current.load_model_on_restore)
        self.extras = [HistoryBlock.build(), InsightBlock.build()]
        self.transfer = TransferBlock.build(self.workspace.recorder.host.saved_work_folder())
        build_settings(self.workspace)
        return self.manager_view

    def finish(self, blocks: gr.Blocks, bindings: list[Binding]) -> None:
        """Wire every event; call once, after quick_bar() and manager() have built their views."""
        self.bindings = bindings
        for bar, binding in self.quick_bars:
            self._wire_save(bar.save, [binding], label=None)
            self._wire_restore(bar.restore, bar.picker, [binding], load_model=None)
            for button, direction in ((bar.back, -1), (bar.forward, +1)):
                wire_page_writer(self, button, [], [binding], lambda tab, view=binding.view, way=direction:
                                 self.workspace.history.step(tab, view, way), every_press=True)
        if self.manager_view is not None:
            view = self.manager_view
            self._wire_save(view.save, bindings, label=view.label)
            self._wire_restore(view.restore, view.picker, bindings, load_model=view.load_model)
            wire_manager(self, view)
        for block in [*self.extras, *self._table(), *([self.transfer] if self.transfer else [])]:
            block.wire(self)
        for binding in bindings:
            self._mirror(binding)
        for index, (bar, _) in enumerate(self.quick_bars):
            wire_opening(self, bar.picker, index)
        if self.manager_view is not None:
            wire_opening(self, self.manager_view.picker, -1)
        install_tick(self)
        self._wire_load(blocks)

    # ----- rendering ------------------------------------------------------------------------

    def outputs(self) -> list[Any]:
        views: list[Any] = [bar for bar, _ in self.quick_bars] + ([self.manager_view] if self.manager_view else [])
        views += [*self.extras, *self._table()]
        return [component for view in views for component in view.outputs()]

    def _table(self) -> list[SessionTableView]:
        return [self.manager_view.table] if self.manager_view is not None else []

    def pickers(self) -> list[gr.Dropdown]:
        return [bar.picker for bar, _ in self.quick_bars] + ([self.manager_view.picker] if self.manager_view else [])

    def picker_indexes(self) -> list[int]:
        """The pickers' indexes in ``pickers()`` order, as PickerPositions knows them (the manager's is -1)."""
        return list(range(len(self.quick_bars))) + ([-1] if self.manager_view else [])

    def render(self, tab: str | None, selected: str | None = None, kept: list[str | None] | None = None,
               query: str = "") -> list[Any]:
        """Fresh values for every view. ``selected`` goes into every picker; ``kept`` gives each picker
        its own current value back (a background refresh must not move a selection the user made)."""
        states: dict[str | None, Any] = {}  # per kind of view; None: the manager's (the view used last)
        wanted = [selected, *(kept or [])]  # offered in the pickers even when older than their lists
        for view in [binding.view for _, binding in self.quick_bars] + ([None] if self.manager_view else []):
            if view not in states:
                states[view] = self.workspace.state(tab, view, query, wanted, with_sessions=view is None)
        if kept is None:
            self.positions.reset(tab)
        values: list[Any] = []
        for index, (bar, binding) in enumerate(self.quick_bars):
            state = states[binding.view]
            choice = self.positions.choice(tab, binding.view, state, selected, kept, index)
            self.positions.placed(tab, index, choice)
            values += bar.render(state, choice, keep=kept is not None and choice == kept[index])
        if self.manager_view is not None:
            choice = self.positions.choice(tab, None, states[None], selected, kept, -1)
            self.positions.placed(tab, -1, choice)
            values += self.manager_view.render(states[None], choice, self.workspace.details(tab, choice),
                                               keep=kept is not None and choice == kept[-1])
            for block in [*self.extras, *self._table()]:
                values += block.render(self.workspace, tab, choice)
        self.positions.shown(tab, {view: state.newest for view, state in states.items()})
        return values

    def handler(self, action: Callable[..., Any]) -> Callable[..., list[Any]]:
        """An event handler: ``action(tab, *values)`` acts and may return the choice to select."""

        def handle(request: gr.Request, *values: Any) -> list[Any]:
            tab = tab_of(request)
            self.positions.acting(tab)
            return self.render(tab, selected=action(tab, *values))

        return handle

    # ----- events ---------------------------------------------------------------------------

    def _wire_save(self, button: gr.Button, bindings: list[Binding], label: gr.Textbox | None) -> None:
        """Save the view the tab uses (the bar's own, or for the manager the tab's last used)."""
        inputs = [c for b in bindings for c in b.mirror_inputs()] + ([label] if label is not None else [])

        def save(tab: str | None, *values: Any) -> str | None:
            offset = 0
            for binding in bindings:  # the click carries the views' exact values: mirror them first
                count = len(binding.mirror_inputs())
                self._mirror_values(tab, binding, values[offset:offset + count])
                offset += count
            view = bindings[0].view if len(bindings) == 1 else None
            return self.workspace.save(tab, values[-1] if label is not None else "", view)

        # always_last: a click while the previous save is still running saves the newer text after it
        # (Gradio's default drops it).
        button.click(self.handler(save), inputs, self.outputs(), queue=False, trigger_mode="always_last",
                     show_progress="hidden")

    def _wire_restore(self, button: gr.Button, picker: gr.Dropdown, bindings: list[Binding],
                      load_model: gr.Checkbox | None) -> None:
        view = bindings[0].view if len(bindings) == 1 else None

        def restore(tab: str | None, choice: str | None, *load: bool) -> tuple[Any, str | None]:
            return self.workspace.restore(tab, choice, load[0] if load else None, view), choice

        wire_page_writer(self, button, [picker] + ([load_model] if load_model is not None else []), bindings,
                         restore)

    def _mirror_values(self, tab: str | None, binding: Binding, values: tuple[Any, ...] | list[Any],
                       by_user: bool = False) -> None:
        self.workspace.mirror(tab, binding.view, binding.content_of(*values), by_user)

    def _mirror(self, binding: Binding) -> None:
        """Every change of a view reaches the tab's page; the user's own edits make it dirty."""
        inputs = binding.mirror_inputs()

        def mirror(by_user: bool) -> Callable[..., None]:
            def on_change(request: gr.Request, *values: Any) -> None:
                self._mirror_values(tab_of(request), binding, values, by_user)
            return on_change

        triggers = [binding.display] if isinstance(binding, ChatBinding) else inputs
        for component in triggers:
            component.change(mirror(False), inputs, None, queue=False, trigger_mode="always_last",
                             show_progress="hidden")
        for box in getattr(binding, "text_boxes", []):
            box.input(mirror(True), inputs, None, queue=False, trigger_mode="always_last", show_progress="hidden")
        # Parameters: changes only (hosts fire "input" events of their own at page load); once the user has
        # written or generated, a parameter change alone is unsaved work too.
        for name, component in binding.params.items():
            component.change(self._param_mirror(binding, name), [component], None, queue=False,
                             trigger_mode="always_last", show_progress="hidden")
        for component in binding.link_inputs:
            component.change(self._link_follower(binding), binding.link_inputs, None, queue=False,
                             show_progress="hidden")

    def _param_mirror(self, binding: Binding, name: str) -> Callable[..., None]:
        def on_change(request: gr.Request, value: Any) -> None:
            self.workspace.page(tab_of(request), binding.view).update_param(name, binding.param_value(value))
        return on_change

    def _link_follower(self, binding: Binding) -> Callable[..., None]:
        def on_link(request: gr.Request, *links: Any) -> None:
            self.workspace.follow(tab_of(request), binding.view, binding.link_of(*links))
        return on_link

    def _wire_load(self, blocks: gr.Blocks) -> None:
        """On every page load: the tab's pages (following what the host shows), its views, and, where the
        host does not do it itself, the views' content."""
        links = [c for b in self.bindings for c in b.link_inputs]
        fills = [b for b in self.bindings if b.fill_on_load]
        fill_outputs = [c for b in fills for c in b.page_components]

        def on_load(request: gr.Request, *values: Any) -> list[Any]:
            tab = tab_of(request)
            offset = 0
            for binding in self.bindings:
                count = len(binding.link_inputs)
                if count:
                    self.workspace.follow(tab, binding.view, binding.link_of(*values[offset:offset + count]))
                offset += count
            filled: list[Any] = []
            for binding in fills:
                page = self.workspace.page(tab, binding.view)
                filled += binding.page_values(page.content) if not page.content.empty else \
                    [gr.update() for _ in binding.page_components]
            return filled + self.render(tab)

        loaded = blocks.load(on_load, links, fill_outputs + self.outputs(), queue=False, show_progress="hidden")
        loaded.then(None, None, None, js=MARK_LOADED_JS,
                    queue=False, show_progress="hidden")  # after the outputs, success or not


CSS = HISTORY_CSS + TABLE_CSS + """
.sm-hidden { display: none !important; }
.sm-quick-bar { align-items: end; }
.sm-bar { gap: 4px; }
.sm-status p { font-size: 0.9em; opacity: 0.85; margin: 0; }
/* Gradio's progress overlay (timer "0.0s", "3.7/2.0s"): its fork shows it on a pending update even when
   the event says show_progress="hidden"; the status line is text only. */
.sm-status .wrap.center, .sm-status .wrap.default { display: none !important; }
"""

JS = HISTORY_JS + REFRESH_JS
