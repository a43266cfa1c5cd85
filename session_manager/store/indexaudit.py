"""doctor's check of index.sqlite against the files: every session's row, counts, search text and
checkpoint rows are compared with what the files hold, and a session that differs is read again.

The sweep (catalog.py) trusts folder times; this does not: it catches what times cannot show, such
as a checkpoint rewritten in place by a sync tool, or rows changed or deleted in the index itself.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from ..models import Checkpoint
from .catalog import Catalog
from .index_db import CHECKPOINT_FIELDS, NAME_COLUMNS, SEARCH_TABLES, SESSION_FIELDS, TEXT_COLUMNS, IndexDB
from .scan import SessionScan, checkpoint_row, scan_session

# Fields whose stored value is a message (it names paths): compared by presence only.
_LOOSE = {"problem"}


class IndexAudit:
    """Compare sessions one at a time (doctor has just read their files); ``repaired`` lists what was redone."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.repaired: list[tuple[str, str]] = []  # (session id, what differed)

    def check(self, session_id: str, checkpoints: list[Checkpoint] | None) -> str:
        """"" when the index agrees with the files, else what differed (the session is then read again)."""
        catalog = self.catalog
        if not catalog.layout.has_session(session_id):
            return ""
        db = catalog.checkpoint_rows(session_id)
        scan = scan_session(catalog.layout, catalog.files, session_id)
        why = catalog.file.guarded(lambda: _differs(db, session_id, scan, checkpoints))
        if why:
            catalog.file.guarded(lambda: _forget(catalog.file.open(), session_id))
            catalog.reread(session_id)
            self.repaired.append((session_id, why))
        return why

    def search_table_ok(self) -> str:
        """"" when the search tables pass SQLite's own check; else the index is rebuilt and the reason returned."""
        def run() -> str:
            try:
                with self.catalog.file.open().write() as conn:
                    for table in SEARCH_TABLES:
                        conn.execute(f"INSERT INTO {table} ({table}) VALUES ('integrity-check')")
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                    raise
                return str(exc)
            return ""

        why = self.catalog.file.guarded(run)
        if why:
            self.catalog.file.rebuild(f"its search table is damaged ({why})")
        return why


def _differs(db: IndexDB, session_id: str, scan: SessionScan, checkpoints: list[Checkpoint] | None) -> str:
    found = db.rows(f"SELECT num, {', '.join(SESSION_FIELDS)}, rows_at FROM sessions WHERE id = ?", (session_id,))
    if not found:
        return "the session had no row"
    num, *values, rows_at = found[0]
    # A session that is not listed keeps only its counts (its other fields are not read).
    names = SESSION_FIELDS if scan.fields["visible"] else ("visible", "n_checkpoints", "kv_bytes", "has_autosave")
    for name, value in zip(SESSION_FIELDS, values, strict=True):
        if name not in names:
            continue
        wanted = scan.fields.get(name)
        if name in _LOOSE:
            value, wanted = bool(value), bool(wanted)
        if value != wanted:
            return f"its {name} was {_short(value)}, the files say {_short(wanted)}"
    text = db.rows(f"SELECT {', '.join(TEXT_COLUMNS)} FROM session_text WHERE rowid = ?", (num,))
    if not text:
        return "it was missing from the search table"
    if tuple(text[0]) != tuple(scan.text):
        column = next(c for c, a, b in zip(TEXT_COLUMNS, text[0], scan.text, strict=True) if a != b)
        return f"its searchable {column} differed from the files"
    named = db.rows(f"SELECT {', '.join(NAME_COLUMNS)} FROM session_names WHERE rowid = ?", (num,))
    if not named:
        return "it was missing from the table of names"
    if tuple(named[0]) != tuple(scan.text[:len(NAME_COLUMNS)]):
        return "its name, tags or notes in the table of names differed from the files"
    if dict(db.rows("SELECT checkpoint_id, bytes FROM blobs WHERE session_id = ?", (session_id,))) != scan.blobs:
        return "its KV snapshot sizes differed from the files"
    return _checkpoints_differ(db, session_id, rows_at, checkpoints, _compare)


def _checkpoints_differ(db: IndexDB, session_id: str, rows_at: int | None, checkpoints: list[Checkpoint] | None,
                        compare: Callable[[tuple[Any, ...], tuple[Any, ...]], bool]) -> str:
    if rows_at is None or checkpoints is None:
        return ""  # the rows are read in full at the next picker, from the files
    indexed = {r[0]: tuple(r) for r in db.rows(f"SELECT {', '.join(CHECKPOINT_FIELDS)} FROM checkpoints "
                                               "WHERE session_id = ?", (session_id,))}
    for checkpoint in checkpoints:
        row = indexed.get(checkpoint.id)
        if row is not None and not compare(row, checkpoint_row(checkpoint)):
            return f"checkpoint {checkpoint.id} was changed in place"
    on_disk = {cp.id for cp in checkpoints}
    if any(cid not in on_disk for cid in indexed):
        return "it listed checkpoints that are no longer there"
    return ""


def _compare(indexed: tuple[Any, ...], read: tuple[Any, ...]) -> bool:
    return all(a == b for a, b in zip(indexed, read, strict=True))


def _forget(db: IndexDB, session_id: str) -> None:
    # Everything of the session goes: the next read rebuilds its row, and the next picker its checkpoint rows.
    with db.write() as conn:
        IndexDB.drop_session(conn, session_id)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"
