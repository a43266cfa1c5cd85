"""The Sessions tab's table, without gradio: which page each browser tab looks at (its words, order and
page number) and the rows of that page as a person reads them. Each page is one index query (store's
session_table), so browsing 100,000 sessions costs what browsing 100 does."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from ..store import SessionStore
from ..store.session_table import SORT_KEYS, SessionRow, SortKey, TableQuery
from ..timefmt import full
from ..units import human_bytes
from .panel_state import search_words

PAGE_SIZE = 25
SORT_CHOICES: list[tuple[str, SortKey]] = [("Last change", "updated"), ("Name", "name"),
                                           ("Checkpoints", "checkpoints"), ("Size on disk", "size")]
HEADERS = ["Name", "Last change", "View", "Model", "Checkpoints", "Size on disk", "Tags", "First words", "id"]
VIEWS = {"default": "Default", "notebook": "Notebook", "chat": "Chat"}
CURRENT = "▶ "  # marks the row of the session the tab records into


@dataclass(frozen=True)
class Browse:
    """What one browser tab asked the table for."""

    text: str = ""  # the search box as typed: words, and tag:NAME
    sort: SortKey = "updated"
    descending: bool = True
    page: int = 1  # from 1; a page past the end shows the last one


@dataclass(frozen=True)
class TableState:
    """One page of the table, ready to show."""

    rows: list[list[str]]  # one per session, HEADERS' columns (the last, the id, is hidden by the page)
    page: int
    pages: int
    total: int
    browse: Browse

    @property
    def line(self) -> str:
        if not self.total:
            return "No session matches." if self.browse.text.strip() else "No sessions yet."
        noun = "session" if self.total == 1 else "sessions"
        found = " found" if self.browse.text.strip() else ""
        return f"Page {self.page:,} of {self.pages:,} · {self.total:,} {noun}{found}"


class SessionBrowser:
    """Per browser tab: what its table shows. Safe to share between the page's event threads."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store
        self._browsing: dict[str | None, Browse] = {}
        self._guard = threading.Lock()

    def browse(self, tab: str | None, *, text: str | None = None, sort: str | None = None,
               descending: bool | None = None, page: int | float | None = None) -> Browse:
        """Change what the tab's table shows; new words or a new order start again at page 1."""
        with self._guard:
            now = self._browsing.get(tab, Browse())
            changes: dict[str, object] = {}
            if text is not None and text != now.text:
                changes.update(text=text, page=1)
            if sort is not None and sort in SORT_KEYS and sort != now.sort:
                changes.update(sort=sort, page=1)
            if descending is not None and descending != now.descending:
                changes.update(descending=descending, page=1)
            if page is not None:
                changes["page"] = max(1, int(page))
            self._browsing[tab] = now = replace(now, **changes)  # type: ignore[arg-type]  # fields by name
            return now

    def turn(self, tab: str | None, pages: int) -> Browse:
        """Go ``pages`` forwards (or backwards), within the table."""
        shown = self.state(tab, None)
        return self.browse(tab, page=min(max(1, shown.page + pages), shown.pages))

    def state(self, tab: str | None, current: str | None) -> TableState:
        """The page the tab looks at; ``current`` (the session the tab records into) is marked."""
        with self._guard:
            browse = self._browsing.get(tab, Browse())
        words, tag = search_words(browse.text)  # the search box means what it means for the picker
        query = TableQuery(words=words, tag=tag, sort=browse.sort, descending=browse.descending, limit=PAGE_SIZE,
                           offset=(browse.page - 1) * PAGE_SIZE)
        rows, total = self.store.session_table(query)
        pages = max(1, -(-total // PAGE_SIZE))
        if browse.page > pages:  # the table shrank (a search, a delete): its last page
            rows, _ = self.store.session_table(replace(query, offset=(pages - 1) * PAGE_SIZE))
        return TableState([cells(row, row.id == current) for row in rows], min(browse.page, pages), pages, total,
                          browse)


def cells(row: SessionRow, current: bool = False) -> list[str]:
    meta = row.meta
    return [(CURRENT if current else "") + meta.name, full(row.changed or meta.updated, seconds=False),
            VIEWS.get(row.mode, row.mode), row.model or "", f"{row.n_checkpoints:,}", human_bytes(row.disk_bytes),
            ", ".join(meta.tags), row.first_words, row.id]

