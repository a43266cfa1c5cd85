"""The Sessions tab's table: one page of the store at a time, sorted and filtered by the index, a click on
a row selecting that session as the session picker does. The search box above it filters it as one types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from ..app.session_table import HEADERS, SORT_CHOICES
from ..app.workspace import Workspace
from .events import Renders, tab_of

NEWEST_FIRST, OLDEST_FIRST = "Descending", "Ascending"
# The last column holds each row's session id: the click reads it from the row the page shows (never from a
# page the server rendered since), and the page does not show it.
CSS = """
.sm-session-table table th:last-child, .sm-session-table table td:last-child { display: none; }
.sm-session-table .sort-button { display: none; }  /* the index sorts the whole table ("Sort by"), not a page */
.sm-table-bar { align-items: center; }
.sm-table-line p { margin: 0; white-space: nowrap; }
"""
_WIDTHS = ["17%", "12.5%", "7%", "13%", "8.5%", "9%", "8%", "25%", "0%"]


@dataclass
class SessionTableView:
    search: gr.Textbox  # the manager's search box, which filters the table too
    sort: gr.Dropdown
    order: gr.Radio
    table: gr.Dataframe
    back: gr.Button
    page: gr.Number
    line: gr.Markdown
    forward: gr.Button

    @classmethod
    def build(cls, search: gr.Textbox) -> SessionTableView:
        with gr.Row(elem_classes="sm-table-bar"):
            sort = gr.Dropdown(label="Sort by", choices=SORT_CHOICES, value="updated", scale=2, min_width=160,
                               elem_classes="sm-table-sort")
            order = gr.Radio([NEWEST_FIRST, OLDEST_FIRST], value=NEWEST_FIRST, label="Order", scale=2,
                             min_width=220, elem_classes="sm-table-order")
            back = gr.Button("◀", scale=0, min_width=48, elem_classes="sm-table-back")
            page = gr.Number(label="Page", value=1, precision=0, minimum=1, scale=1, min_width=90,
                             elem_classes="sm-table-page")
            forward = gr.Button("▶", scale=0, min_width=48, elem_classes="sm-table-forward")
            line = gr.Markdown("", elem_classes="sm-table-line")
        table = gr.Dataframe(headers=HEADERS, value=[["" for _ in HEADERS]], datatype="str", type="array",
                             interactive=False, wrap=False, height=560, column_widths=_WIDTHS,
                             label="Sessions (click a row to select it)", elem_classes="sm-session-table")
        return cls(search, sort, order, table, back, page, line, forward)

    def outputs(self) -> list[Any]:
        return [self.table, self.page, self.line]

    def render(self, workspace: Workspace, tab: str | None, choice: str | None = None) -> list[Any]:
        """The tab's page, sent every time: a render the page never got (a refresh dropped because an action
        overlapped it) must not leave the table behind."""
        state = workspace.browser.state(tab, workspace.page(tab).session_id)
        return [{"headers": HEADERS, "data": state.rows or [["" for _ in HEADERS]]}, state.page, state.line]

    def wire(self, panel: Renders) -> None:
        browser = panel.workspace.browser
        outputs = self.outputs()
        fast: dict[str, Any] = {"queue": False, "show_progress": "hidden"}

        def shown(request: gr.Request) -> list[Any]:
            return self.render(panel.workspace, tab_of(request))

        def typed(request: gr.Request, text: str) -> list[Any]:
            browser.browse(tab_of(request), text=text or "")
            return shown(request)

        def sorted_by(request: gr.Request, sort: str, order: str) -> list[Any]:
            browser.browse(tab_of(request), sort=sort, descending=order != OLDEST_FIRST)
            return shown(request)

        def turned(pages: int) -> Any:
            def turn(request: gr.Request) -> list[Any]:
                browser.turn(tab_of(request), pages)
                return shown(request)
            return turn

        def went(request: gr.Request, number: float | None) -> list[Any]:
            browser.browse(tab_of(request), page=number or 1)
            return shown(request)

        def picked(request: gr.Request, rows: list[list[Any]], event: gr.SelectData) -> list[Any]:
            index = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
            row = rows[index] if isinstance(index, int) and 0 <= index < len(rows) else None
            session_id = str(row[-1]) if row else ""
            return panel.handler(lambda tab: panel.workspace.select_session(tab, session_id or None))(request)

        self.search.change(typed, [self.search], outputs, trigger_mode="always_last", **fast)
        self.sort.input(sorted_by, [self.sort, self.order], outputs, **fast)
        self.order.input(sorted_by, [self.sort, self.order], outputs, **fast)
        self.back.click(turned(-1), None, outputs, **fast)
        self.forward.click(turned(+1), None, outputs, **fast)
        self.page.submit(went, [self.page], outputs, **fast)
        self.table.select(picked, [self.table], panel.outputs(), **fast)
