"""What the store offers beyond reads and writes of one session: the list a page at a time, finding
the session a person means, following outside changes, and the index's own checks and progress.
(A part of SessionStore: it gets the store's one StoreCore.)"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

from . import lookup, queries, session_table
from .catalog import Catalog
from .core import StoreCore
from .hit_order import HitOrders
from .index_db import IndexDB
from .indexaudit import IndexAudit
from .progress import Progress
from .session_table import SessionRow, TableQuery
from .summaries import SessionSummary


class Browsing:
    """The store's list a page at a time, the lookups a person makes, and the index's watch and checks."""

    def __init__(self, core: StoreCore) -> None:
        self.root: Path = core.root
        self._catalog: Catalog = core.catalog
        self._counts: dict[tuple[str, str | None], tuple[int, int]] = {}  # (words, tag): (generation, total)
        self._orders = HitOrders()  # a common word's hits in the table's order, for its deep pages

    def iter_sessions(self, batch: int = 1000) -> Iterator[SessionSummary]:
        """Every readable session, most recently changed first, read from the index a page at a time."""
        after: tuple[int, str] | None = None
        while True:
            rows = self._catalog.query_sessions(functools.partial(queries.sessions_after, after=after, limit=batch))
            if not rows:
                return
            yield from rows
            after = rows[-1].sort_key

    def session_table(self, query: TableQuery) -> tuple[list[SessionRow], int]:
        """One page of the session table and how many sessions it holds in all (see session_table.py)."""
        rows = self._catalog.query_sessions(lambda db: session_table.table_page(db, query, self._orders))
        return rows, self._catalog.query(lambda db: self._table_count(db, query))

    def _table_count(self, db: IndexDB, query: TableQuery) -> int:
        # A total holds until the index changes (its generation moves at every write, in any process):
        # turning pages or changing the order does not count the store again.
        key, generation = (query.words, query.tag), db.generation()
        known = self._counts.get(key)
        if known is not None and known[0] == generation:
            return known[1]
        if len(self._counts) >= 64:
            self._counts.clear()
        total = session_table.table_count(db, query, self._orders)
        self._counts[key] = (generation, total)
        return total

    def session_summary(self, session_id: str) -> SessionSummary | None:
        """The list's row of one session (None when it is not a listed session)."""
        return self._catalog.query_sessions(lambda db: queries.session_row(db, session_id))

    def find_session(self, query: str) -> SessionSummary:
        """The session a person means by ``query``: an id, a name, or a unique id prefix (see lookup.py)."""
        return self._catalog.query_sessions(lambda db: lookup.require_session(db, query, str(self.root)))


class IndexUpkeep:
    """The index's upkeep for a long-running host and for doctor: outside changes followed as the system
    reports them, the progress of whole-store work, and a check of the index against the files."""

    def __init__(self, core: StoreCore) -> None:
        self._catalog: Catalog = core.catalog

    def watch(self) -> str:
        """For a long-running host: follow outside changes as the system reports them (within seconds, at any
        size) and compare a large store's folders beside the answers; "" when watching, else why not."""
        return self._catalog.watch_folders()

    def watching(self, timeout: float = 0.0) -> bool:
        """True once outside changes are followed as the system reports them (waits up to ``timeout``)."""
        return self._catalog.watch.wait_started(timeout)

    def unwatch(self) -> None:
        self._catalog.watch.stop()

    @property
    def indexing(self) -> Progress:
        """How far the index's whole-store work has come (a rebuild, the first comparison of every folder)."""
        return self._catalog.progress

    def index_audit(self) -> IndexAudit:
        """A check of the index against the files, one session at a time (doctor's)."""
        return IndexAudit(self._catalog)
