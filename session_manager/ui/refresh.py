"""The background refresh: a hidden button the page's script clicks every few seconds, so that saves made
in the background (autosaves, Stops, other processes) show up, and where each picker stands meanwhile.

A picker left on the newest entry follows the newest; one the user has opened since stays where it is,
even on the entry that was the newest when they looked. No refresh runs while a dropdown's list is open:
new choices would narrow the open list down to the entry it shows.
"""

from __future__ import annotations

from typing import Any, Protocol

import gradio as gr

from ..app.workspace import Workspace
from .events import tab_of

TICK_SECONDS = 3

# Set on <body> once the panel's page-load event has filled the page: the tick waits for it (a refresh
# before it would render a tab the load has not set up yet), and so can anything that drives the page.
LOADED_ATTRIBUTE = "data-sm-loaded"
LOADED_SELECTOR = f"body[{LOADED_ATTRIBUTE}]"
MARK_LOADED_JS = f"() => {{ document.body.setAttribute('{LOADED_ATTRIBUTE}', ''); }}"

JS = f"""
setInterval(() => {{
  const button = document.getElementById('sm-tick');
  const choosing = document.querySelector('ul.options');
  const loaded = document.body.hasAttribute('{LOADED_ATTRIBUTE}');
  if (button && loaded && document.visibilityState === 'visible' && !choosing) button.click();
}}, {TICK_SECONDS * 1000});
"""

Tab = str | None


class PickerPositions:
    """Per tab: the newest entry each kind of view showed, and which pickers (by index, the manager's
    is -1) the user has opened since the last action."""

    def __init__(self) -> None:
        self._newest: dict[tuple[Tab, str | None], str | None] = {}
        self._opened: set[tuple[Tab, int]] = set()

    def opened(self, tab: Tab, index: int) -> None:
        self._opened.add((tab, index))

    def reset(self, tab: Tab) -> None:
        """An action or a page load has set every picker: each follows the newest again."""
        self._opened = {key for key in self._opened if key[0] != tab}

    def shown(self, tab: Tab, newest: dict[str | None, str | None]) -> None:
        self._newest.update({(tab, view): entry for view, entry in newest.items()})

    def choice(self, tab: Tab, view: str | None, state: Any, selected: str | None,
               kept: list[str | None] | None, index: int) -> str | None:
        """What a picker shows: the given selection, or its own; one left on the newest follows the newest."""
        if kept is None:
            return state.valid(selected)
        mine = kept[index]
        follows = mine == self._newest.get((tab, view)) and (tab, index) not in self._opened
        return state.newest if follows else state.valid(mine)


class Refreshable(Protocol):
    workspace: Workspace
    positions: PickerPositions

    def pickers(self) -> list[gr.Dropdown]: ...
    def outputs(self) -> list[Any]: ...
    def render(self, tab: Tab, selected: str | None = None, kept: list[str | None] | None = None,
               query: str = "") -> list[Any]: ...


def wire_opening(panel: Refreshable, picker: gr.Dropdown, index: int) -> None:
    """Opening a picker counts as the user's choice (picking the entry already shown sends no select)."""

    def opened(request: gr.Request) -> None:
        panel.positions.opened(tab_of(request), index)

    picker.focus(opened, None, None, queue=False, show_progress="hidden")


def install_tick(panel: Refreshable) -> None:
    """The hidden button: re-renders every view of the tab when anything it may show has changed."""
    seen = gr.State(None)
    button = gr.Button("tick", elem_id="sm-tick", elem_classes="sm-hidden")
    outputs = panel.outputs()

    def tick(request: gr.Request, last: Any, *pickers: str | None) -> list[Any]:
        tab = tab_of(request)
        now = panel.workspace.revision(tab)
        if now == last:
            return [last] + [gr.update() for _ in outputs]
        return [now] + panel.render(tab, kept=list(pickers))

    button.click(tick, [seen, *panel.pickers()], [seen, *outputs], queue=False, show_progress="hidden")
