"""The background refresh: a hidden button the page's script clicks every few seconds, so that saves made
in the background (autosaves, Stops, other processes) show up, and where each picker stands meanwhile.

A picker left on the newest entry follows the newest; one the user has opened since stays where it is,
even on the entry that was the newest when they looked. No refresh runs while a dropdown's list is open:
new choices would narrow the open list down to the entry it shows.

A tick carries the pickers' values as the page had them when it was sent. An action answered meanwhile (a
click on the timeline, a pick) may have set a picker since: such a tick is stale, and rendering it would
draw the timeline and the mark fields for the old entry while the picker shows the new one. So the panel
remembers what each picker was last set to, and a tick whose values disagree waits for the next one. And a
refresh that overlapped an action of its tab sends nothing: it may have read the panel before the action
changed it, and arriving after the action's own render it would put the old status line back.

A generation that ends (textgen's Stop, or by itself) is saved in the background a moment later: the page
notices its host's Stop button going away and ticks at once, then often (within FOLLOW_SECONDS), until a tick
answered since says that no generation of the tab is still running or being saved. So "Saved on stop" shows
as soon as it is true rather than at the next refresh. These are ordinary ticks: the rules above hold for them.
"""

from __future__ import annotations

import itertools
from typing import Any, Protocol

import gradio as gr

from ..app.workspace import Workspace
from ..recording.page_mirror import VIEWS
from .events import tab_of

TICK_SECONDS = 3

# Set on <body> once the panel's page-load event has filled the page: the tick waits for it (a refresh
# before it would render a tab the load has not set up yet), and so can anything that drives the page.
LOADED_ATTRIBUTE = "data-sm-loaded"
LOADED_SELECTOR = f"body[{LOADED_ATTRIBUTE}]"
MARK_LOADED_JS = f"() => {{ document.body.setAttribute('{LOADED_ATTRIBUTE}', ''); }}"

# After a generation ends: how often the page ticks until the tab's saves are shown, and for how long at most.
FOLLOW_MS = 400
FOLLOW_SECONDS = 30
WATCH_MS = 250  # how often the page looks whether a generation has ended
STOP_SELECTOR = "#stop"  # the host's Stop button(s), shown only while a generation runs
# A hidden box each tick answers in: "<answer number> saving" while a generation of the tab runs or is being
# saved (or the tick could not show what changed), else "<answer number> shown".
SAVES_ID = "sm-saves"

# A block of its own: textgen runs every extension's script in one function with its own.
JS = f"""
{{
  const tick = () => {{
    const button = document.getElementById('sm-tick');
    const choosing = document.querySelector('ul.options');
    const loaded = document.body.hasAttribute('{LOADED_ATTRIBUTE}');
    if (button && loaded && document.visibilityState === 'visible' && !choosing) button.click();
  }};
  setInterval(tick, {TICK_SECONDS * 1000});
  const saves = () => {{
    const box = document.querySelector('#{SAVES_ID} textarea, #{SAVES_ID} input');
    return box ? box.value : '';
  }};
  let following = 0;
  const follow = () => {{
    const run = ++following, before = saves(), until = Date.now() + {FOLLOW_SECONDS * 1000};
    const again = () => {{
      const now = saves();
      if (run !== following || Date.now() > until || (now !== before && now.endsWith(' shown'))) return;
      tick();
      setTimeout(again, {FOLLOW_MS});
    }};
    again();
  }};
  // A Stop button that was shown and is hidden again while its row still shows (a tab switch hides both).
  const gone = el => !el.isConnected || (el.getClientRects().length === 0 && el.parentElement !== null &&
                                          el.parentElement.getClientRects().length > 0);
  let shown = [];
  setInterval(() => {{
    const ended = shown.some(gone);
    shown = Array.from(document.querySelectorAll('{STOP_SELECTOR}')).filter(el => el.getClientRects().length > 0);
    if (ended) follow();
  }}, {WATCH_MS});
}}
"""

Tab = str | None


class PickerPositions:
    """Per tab: the newest entry each kind of view showed, and which pickers (by index, the manager's
    is -1) the user has opened since the last action."""

    def __init__(self) -> None:
        self._newest: dict[tuple[Tab, str | None], str | None] = {}
        self._opened: set[tuple[Tab, int]] = set()
        self._placed: dict[tuple[Tab, int], str | None] = {}  # what each picker was last set to
        self._waited: dict[Tab, list[str | None]] = {}  # a stale tick's values, per tab
        self._actions: dict[Tab, int] = {}  # per tab: actions begun or rendered, for the refresh to notice

    def opened(self, tab: Tab, index: int) -> None:
        self._opened.add((tab, index))

    def reset(self, tab: Tab) -> None:
        """An action or a page load has set every picker: each follows the newest again."""
        self._opened = {key for key in self._opened if key[0] != tab}
        self.acting(tab)

    def acting(self, tab: Tab) -> None:
        """An action of the tab begins or renders: a refresh running meanwhile must not send what it read."""
        self._actions[tab] = self._actions.get(tab, 0) + 1

    def actions(self, tab: Tab) -> int:
        return self._actions.get(tab, 0)

    def placed(self, tab: Tab, index: int, value: str | None) -> None:
        """A render set the picker to ``value``, or the user picked it."""
        self._placed[(tab, index)] = value

    def in_step(self, tab: Tab, kept: list[str | None], indexes: list[int]) -> bool:
        """Whether a tick's picker values are the ones last set. A stale tick waits once; the same
        disagreement a second time is the page's truth (a value the page could not show), taken as is."""
        stale = any((tab, index) in self._placed and self._placed[(tab, index)] != value
                    for index, value in zip(indexes, kept, strict=True))
        if stale and self._waited.get(tab) != kept:
            self._waited[tab] = list(kept)
            return False
        self._waited.pop(tab, None)
        return True

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
    def picker_indexes(self) -> list[int]: ...
    def outputs(self) -> list[Any]: ...
    def render(self, tab: Tab, selected: str | None = None, kept: list[str | None] | None = None,
               query: str = "") -> list[Any]: ...


def wire_opening(panel: Refreshable, picker: gr.Dropdown, index: int) -> None:
    """Opening a picker counts as the user's choice (picking the entry already shown sends no select);
    a pick is remembered as what the picker shows."""

    def opened(request: gr.Request) -> None:
        panel.positions.opened(tab_of(request), index)

    def picked(request: gr.Request, value: str | None) -> None:
        panel.positions.placed(tab_of(request), index, value)

    picker.focus(opened, None, None, queue=False, show_progress="hidden")
    picker.input(picked, [picker], None, queue=False, show_progress="hidden")


def refreshed(panel: Refreshable, tab: Tab, last: Any, kept: list[str | None]) -> list[Any] | None:
    """The tick's answer: the new revision and every view, or None when there is nothing to redraw yet
    (nothing changed, the tick's picker values are older than an action answered since, or an action of the
    tab ran while it rendered)."""
    now = panel.workspace.revision(tab)
    if now == last or not panel.positions.in_step(tab, kept, panel.picker_indexes()):
        return None
    actions = panel.positions.actions(tab)
    values = panel.render(tab, kept=kept)
    if panel.positions.actions(tab) != actions:  # an action overlapped: its own render is the newer one
        return None
    return [now] + values


def install_tick(panel: Refreshable) -> None:
    """The hidden button: re-renders every view of the tab when anything it may show has changed, and says
    in the hidden saves box whether a generation's save is still to come."""
    seen = gr.State(None)
    button = gr.Button("tick", elem_id="sm-tick", elem_classes="sm-hidden")
    saves = gr.Textbox("", elem_id=SAVES_ID, elem_classes="sm-hidden", interactive=False, show_label=False)
    outputs = panel.outputs()
    answers = itertools.count(1)

    def tick(request: gr.Request, last: Any, *pickers: str | None) -> list[Any]:
        tab = tab_of(request)
        pending = saving(panel.workspace, tab)  # asked first: a save that ends meanwhile shows in this render
        values = refreshed(panel, tab, last, list(pickers))
        settled = values is not None or panel.workspace.revision(tab) == last
        said = f"{next(answers)} {'saving' if pending or not settled else 'shown'}"
        return [values[0], said, *values[1:]] if values is not None else [last, said] + [gr.update() for _ in outputs]

    button.click(tick, [seen, *panel.pickers()], [seen, saves, *outputs], queue=False, show_progress="hidden")


def saving(workspace: Workspace, tab: Tab) -> bool:
    """A generation in one of the tab's views is running or has not been saved yet."""
    return any(workspace.page(tab, view).generating for view in VIEWS)
