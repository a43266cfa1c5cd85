"""The session list as a table a person browses: one page of it, in the order they chose, filtered by
what they typed; every page is found by the index (an index walk and LIMIT/OFFSET), never by reading
the whole list, so page 4,000 of 100,000 sessions costs about what page 1 does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .index_db import IndexDB
from .queries import SearchFilter, from_micros, fts_query
from .summaries import SessionSummary

SortKey = Literal["updated", "name", "checkpoints", "size"]
# Each sort key is an index of its own (index_db.py), walked forwards or backwards; the id breaks ties.
_ORDER: dict[str, str] = {"updated": "updated", "name": "name COLLATE NOCASE", "checkpoints": "n_checkpoints",
                          "size": "disk_bytes"}
SORT_KEYS: tuple[SortKey, ...] = ("updated", "name", "checkpoints", "size")
_COLUMNS = ("id, meta_json, n_checkpoints, kv_bytes, has_autosave, mode, model, disk_bytes, first_words, "
            "updated")


@dataclass(frozen=True)
class TableQuery:
    """What the table shows: the words typed (and a tag), the order, and which page."""

    words: str = ""
    tag: str | None = None
    sort: SortKey = "updated"
    descending: bool = True
    limit: int = 25
    offset: int = 0

    def order(self) -> str:
        way = "DESC" if self.descending else "ASC"
        return f"{_ORDER[self.sort]} {way}, id {way}"


@dataclass(eq=False)
class SessionRow(SessionSummary):
    """A row of the table: the list's row with what the table shows besides."""

    mode: str = ""
    model: str | None = None
    disk_bytes: int = 0
    first_words: str = ""
    changed: datetime | None = None


def table_page(db: IndexDB, query: TableQuery) -> list[SessionRow]:
    """One page of the table. The page's row numbers are found first, from the sort's index alone (so
    skipping many rows reads no session data), then only those rows are read."""
    where, params = _where(query)
    if where is None:
        return []
    inner = (f"SELECT s.num FROM sessions s WHERE {where} ORDER BY {query.order()} LIMIT ? OFFSET ?")
    rows = db.rows(f"SELECT {_COLUMNS} FROM sessions WHERE num IN ({inner}) ORDER BY {query.order()}",
                   (*params, max(0, query.limit), max(0, query.offset)))
    return [_row(r) for r in rows]


def table_count(db: IndexDB, query: TableQuery) -> int:
    """How many sessions the table holds with these words and tag (every page together)."""
    where, params = _where(query)
    if where is None:
        return 0
    return int(db.value(f"SELECT count(*) FROM sessions s WHERE {where}", params) or 0)


def _where(query: TableQuery) -> tuple[str | None, list[Any]]:
    clauses, params = SearchFilter(tag=query.tag).where()
    if (query.words or "").strip():
        match = fts_query(query.words)
        if match is None:
            return None, []  # nothing that can be a word: nothing matches
        clauses.append("s.num IN (SELECT rowid FROM session_text WHERE session_text MATCH ?)")
        params.append(match)
    return " AND ".join(clauses), params


def _row(r: tuple[Any, ...]) -> SessionRow:
    return SessionRow(id=r[0], meta_json=r[1], n_checkpoints=r[2], kv_bytes=r[3], has_autosave=bool(r[4]),
                      mode=r[5] or "", model=r[6], disk_bytes=r[7], first_words=r[8] or "",
                      changed=from_micros(r[9]) if isinstance(r[9], int) else None)
