"""The session list as a table a person browses: one page of it, in the order they chose, filtered by
what they typed; every page is found by the index (an index walk and LIMIT/OFFSET), never by reading
the whole list, so page 4,000 of 100,000 sessions costs about what page 1 does."""

from __future__ import annotations

import re
from array import array
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .hit_order import HitOrders
from .index_db import IndexDB
from .queries import SearchFilter, from_micros, matches_more_than
from .summaries import SessionSummary

SortKey = Literal["updated", "name", "checkpoints", "size"]
# Each sort key is an index of its own (index_db.py), walked forwards or backwards; the id breaks ties.
_ORDER: dict[str, str] = {"updated": "s.updated", "name": "s.name COLLATE NOCASE",
                          "checkpoints": "s.n_checkpoints", "size": "s.disk_bytes"}
# Up to this many hits a search's hits are sorted; beyond, the sort's index is walked and each row tested.
FEW_HITS = 2_000
# From this row on, a page of a word most sessions hold is a slice of its hits put in order (hit_order.py).
DEEP = 500
_HITS = "session_text CROSS JOIN sessions s ON s.num = session_text.rowid"
_IS_HIT = "s.num IN (SELECT rowid FROM session_text WHERE session_text MATCH ?)"
_WORD = re.compile(r"\w+", re.UNICODE)
SORT_KEYS: tuple[SortKey, ...] = ("updated", "name", "checkpoints", "size")
_COLUMNS = ("s.id, s.meta_json, s.n_checkpoints, s.kv_bytes, s.has_autosave, s.mode, s.model, s.disk_bytes, "
            "s.first_words, s.updated")


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
        return f"{_ORDER[self.sort]} {way}, s.id {way}"


@dataclass(eq=False)
class SessionRow(SessionSummary):
    """A row of the table: the list's row with what the table shows besides."""

    mode: str = ""
    model: str | None = None
    disk_bytes: int = 0
    first_words: str = ""
    changed: datetime | None = None


def table_page(db: IndexDB, query: TableQuery, orders: HitOrders | None = None) -> list[SessionRow]:
    """One page of the table. The page's row numbers are found first (from the sort's index alone when
    nothing is searched, so skipping many rows reads no session data), then only those rows are read.
    With ``orders``, a deep page of a word most sessions hold is a slice of its hits put in order once."""
    match = _match(query)
    if match == "":
        return []  # words typed, none of them a word: nothing matches
    where, params = SearchFilter(tag=query.tag).where()
    few = match is not None and not matches_more_than(db, match, FEW_HITS)
    if match is not None and not few and orders is not None and query.offset >= DEEP:
        numbers = orders.ordered(db, _order_key(match, query), lambda: _ordered_hits(db, match, where, params, query))
        return _rows_in_order(db, list(numbers[query.offset:query.offset + max(0, query.limit)]))  # offset >= DEEP
    if few:
        # Few hits: found by the search table first, then sorted (a rare word costs what its hits cost).
        inner = (f"SELECT s.num FROM {_HITS} WHERE session_text MATCH ? AND {' AND '.join(where)} "
                 f"ORDER BY {query.order()} LIMIT ? OFFSET ?")
        params = [match, *params]
    else:
        # Nothing searched, or a word most sessions hold: the sort's index is walked, each session tested.
        if match is not None:
            where.append(_IS_HIT)
            params.append(match)
        inner = f"SELECT s.num FROM sessions s WHERE {' AND '.join(where)} ORDER BY {query.order()} LIMIT ? OFFSET ?"
    rows = db.rows(f"SELECT {_COLUMNS} FROM sessions s WHERE s.num IN ({inner}) ORDER BY {query.order()}",
                   (*params, max(0, query.limit), max(0, query.offset)))
    return [_row(r) for r in rows]


def _order_key(match: str, query: TableQuery) -> tuple[str, str | None, str, bool]:
    return match, query.tag, query.sort, query.descending


def _ordered_hits(db: IndexDB, match: str, where: list[str], params: list[Any], query: TableQuery) -> array[int]:
    """Every hit's row number in the table's order (the sort's index walked once, each session tested)."""
    return db.numbers(f"SELECT s.num FROM sessions s WHERE {' AND '.join([*where, _IS_HIT])} ORDER BY {query.order()}",
                      (*params, match))


def _rows_in_order(db: IndexDB, numbers: list[int]) -> list[SessionRow]:
    if not numbers:
        return []
    # The numbers come from the index itself (integers): written into the statement, no limit on parameters.
    listed = ", ".join(str(int(n)) for n in numbers)
    rows = db.rows(f"SELECT {_COLUMNS}, s.num FROM sessions s WHERE s.num IN ({listed})")
    by_number = {r[-1]: _row(r) for r in rows}
    return [by_number[n] for n in numbers if n in by_number]


def table_count(db: IndexDB, query: TableQuery, orders: HitOrders | None = None) -> int:
    """How many sessions the table holds with these words and tag (every page together)."""
    match = _match(query)
    if match == "":
        return 0
    where, params = SearchFilter(tag=query.tag).where()
    if match is None:
        return int(db.value(f"SELECT count(*) FROM sessions s WHERE {' AND '.join(where)}", params) or 0)
    known = orders.known(db, _order_key(match, query)) if orders is not None else None
    if known is not None:
        return len(known)  # the hits a deep page put in order are the ones to count
    if not query.tag:
        # A session that is not listed has no searchable text: the search table's own count is the table's.
        return int(db.value("SELECT count(*) FROM session_text WHERE session_text MATCH ?", (match,)) or 0)
    return int(db.value(f"SELECT count(*) FROM {_HITS} WHERE session_text MATCH ? AND {' AND '.join(where)}",
                        (match, *params)) or 0)


def _match(query: TableQuery) -> str | None:
    """The search table's query for the words and the tag's words; None when there is nothing to search,
    "" when words were typed and none of them is a word."""
    words = _terms(query.words)
    if (query.words or "").strip() and not words:
        return ""
    tag = _terms(query.tag or "", prefix=False)
    parts = ([" AND ".join(words)] if words else []) + ([f"{{tags}} : ({' AND '.join(tag)})"] if tag else [])
    return " AND ".join(f"({part})" for part in parts) or None


def _terms(text: str, prefix: bool = True) -> list[str]:
    # As one types, a word matches the words it begins; a single letter only itself (it begins too many).
    words = [word for word in _WORD.findall(text) if any(ch.isalnum() for ch in word)]
    return [f'"{word}"*' if prefix and len(word) > 1 else f'"{word}"' for word in words]


def _row(r: tuple[Any, ...]) -> SessionRow:
    return SessionRow(id=r[0], meta_json=r[1], n_checkpoints=r[2], kv_bytes=r[3], has_autosave=bool(r[4]),
                      mode=r[5] or "", model=r[6], disk_bytes=r[7], first_words=r[8] or "",
                      changed=from_micros(r[9]) if isinstance(r[9], int) else None)
