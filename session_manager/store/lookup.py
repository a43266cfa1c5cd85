"""Finding one session from what a person typed (an id, a name, an id prefix), from the index alone.

Each step asks index.sqlite a narrow question, so ``show ID`` costs the same in a store of ten
sessions and of a hundred thousand; no other session's file is read.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import AmbiguousSession, NotFound
from ..plain import quoted
from . import queries
from .index_db import IndexDB
from .summaries import SessionSummary

# Candidates an ambiguous answer lists (enough to choose from, bounded however many match).
MAX_CANDIDATES = 20


def find_session(db: IndexDB, query: str) -> SessionSummary | None:
    """An id, else an exact name, else a case-insensitive name, else a unique id prefix; None when nothing matches.

    Raises AmbiguousSession when the first kind of match that finds anything finds several."""
    exact = queries.session_row(db, query)
    if exact is not None:
        return exact
    finders: list[Callable[[], list[SessionSummary]]] = [
        lambda: queries.sessions_named(db, query, MAX_CANDIDATES + 1),
        lambda: _named_any_case(db, query),
        lambda: queries.sessions_with_prefix(db, query, MAX_CANDIDATES + 1)]
    for hits in finders:
        found = hits()
        if len(found) == 1:
            return found[0]
        if found:
            raise AmbiguousSession(query, [(row.id, row.name) for row in found[:MAX_CANDIDATES]])
    return None


def require_session(db: IndexDB, query: str, where: str) -> SessionSummary:
    query = query.strip()
    if not query:
        raise NotFound("an empty session name matches nothing")
    found = find_session(db, query)
    if found is None:
        raise NotFound(f"there is no session {quoted(query)} in {where} (see `session-manager list`)")
    return found


def _named_any_case(db: IndexDB, query: str) -> list[SessionSummary]:
    wanted = query.casefold()
    ids = [session_id for session_id, name in queries.session_names(db) if name.casefold() == wanted]
    rows = [queries.session_row(db, session_id) for session_id in ids[:MAX_CANDIDATES + 1]]
    return [row for row in rows if row is not None]
