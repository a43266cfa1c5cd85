"""index.sqlite: a cache of what the session folders hold, for listing and search at any size.

Files stay the truth: every row here can be rebuilt from them, and is (catalog.py decides
when). This module only speaks SQL: the schema, writing rows, and the queries behind the
session list, search, checkpoint summaries and KV accounting. sqlite3 from the standard
library, WAL so readers never wait for a writer, FTS5 for text search.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .layout import Stamps

SCHEMA_VERSION = 7
STALE = -3  # a stamp that never matches the disk: the row is read again at the next sweep
# A reader never waits longer on another process; a write that cannot wait is applied later (catalog.py).
BUSY_TIMEOUT_MS = 1_000
# Pages SQLite keeps in memory (negative: KiB): a list of 100,000 rows stays in the cache.
CACHE_KIB = 32_768

_SCHEMA = """
CREATE TABLE info (key TEXT PRIMARY KEY, value INTEGER);
CREATE TABLE sessions (
    num INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
    visible INTEGER NOT NULL, problem TEXT,
    name TEXT, created INTEGER, updated INTEGER, mode TEXT, model TEXT, tags TEXT,
    pinned INTEGER, origin TEXT, link_key TEXT, parent TEXT,
    n_checkpoints INTEGER NOT NULL DEFAULT 0, kv_bytes INTEGER NOT NULL DEFAULT 0,
    has_autosave INTEGER NOT NULL DEFAULT 0, latest_created INTEGER, meta_json TEXT,
    checkpoint_bytes INTEGER NOT NULL DEFAULT 0, disk_bytes INTEGER NOT NULL DEFAULT 0, first_words TEXT,
    st_folder INTEGER, st_meta INTEGER, st_meta_size INTEGER, st_checkpoints INTEGER, st_kv INTEGER,
    rows_at INTEGER
);
CREATE INDEX sessions_by_update ON sessions (visible, updated DESC, id DESC);
CREATE INDEX sessions_by_name ON sessions (visible, name COLLATE NOCASE, id);
CREATE INDEX sessions_by_checkpoints ON sessions (visible, n_checkpoints, id);
CREATE INDEX sessions_by_size ON sessions (visible, disk_bytes, id);
CREATE INDEX sessions_by_origin ON sessions (origin);
CREATE INDEX sessions_by_link ON sessions (link_key);
CREATE INDEX sessions_by_parent ON sessions (parent) WHERE parent IS NOT NULL;
CREATE INDEX sessions_stamps ON sessions (id, st_folder, st_meta, st_meta_size, st_checkpoints, st_kv, rows_at);
CREATE VIRTUAL TABLE session_text USING fts5 (name, tags, notes, text, marks,
    tokenize = 'unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE session_names USING fts5 (name, tags, notes, tokenize = 'unicode61 remove_diacritics 2');
CREATE TABLE checkpoints (
    session_id TEXT NOT NULL, id TEXT NOT NULL, created INTEGER, trigger TEXT, mode TEXT, label TEXT,
    model TEXT, chars INTEGER, words INTEGER, tokens INTEGER, kv_ref INTEGER, kv_tokens INTEGER,
    gen_seconds REAL, gen_tokens INTEGER, caption TEXT,
    PRIMARY KEY (session_id, id)
) WITHOUT ROWID;
CREATE TABLE blobs (
    session_id TEXT NOT NULL, checkpoint_id TEXT NOT NULL, bytes INTEGER NOT NULL,
    PRIMARY KEY (session_id, checkpoint_id)
) WITHOUT ROWID;
CREATE INDEX blobs_by_age ON blobs (checkpoint_id);
CREATE TABLE marks (
    session_id TEXT NOT NULL, checkpoint_id TEXT NOT NULL, pinned INTEGER, note TEXT, label TEXT,
    PRIMARY KEY (session_id, checkpoint_id)
) WITHOUT ROWID;
"""
SESSION_FIELDS = ("visible", "problem", "name", "created", "updated", "mode", "model", "tags", "pinned", "origin",
                  "link_key", "parent", "n_checkpoints", "kv_bytes", "has_autosave", "latest_created", "meta_json",
                  "checkpoint_bytes", "disk_bytes", "first_words")
STAMP_FIELDS = ("st_folder", "st_meta", "st_meta_size", "st_checkpoints", "st_kv")
CHECKPOINT_FIELDS = ("id", "created", "trigger", "mode", "label", "model", "chars", "words", "tokens", "kv_ref",
                     "kv_tokens", "gen_seconds", "gen_tokens", "caption")
LIST_COLUMNS = "id, meta_json, n_checkpoints, kv_bytes, has_autosave"
TEXT_COLUMNS = ("name", "tags", "notes", "text", "marks")  # marks: checkpoint notes and labels
NAME_COLUMNS = TEXT_COLUMNS[:3]  # also in session_names: a word most sessions' text holds is looked up by name there
SEARCH_TABLES = ("session_text", "session_names")
TABLES = frozenset({"info", "sessions", "checkpoints", "blobs", "marks", *SEARCH_TABLES,
                    *(f"{table}_{part}" for table in SEARCH_TABLES
                      for part in ("data", "idx", "content", "docsize", "config"))})


class IndexDB:
    """One connection to one index file (or to memory); every call is serialised by a lock."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        target = str(path) if path is not None else ":memory:"
        self._conn = sqlite3.connect(target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                     check_same_thread=False)
        self._lock = threading.RLock()
        try:
            self._prepare()
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._conn.close()

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction that bumps the generation (so every process sees something changed)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("UPDATE info SET value = value + 1 WHERE key = 'generation'")
                self._conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def numbers(self, sql: str, params: Sequence[Any] = ()) -> array[int]:
        """The first column of every row, as integers in a compact array (100,000 row numbers: 800 KB)."""
        with self._lock:
            return array("q", [row[0] for row in self._conn.execute(sql, params)])

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        found = self.rows(sql, params)
        return found[0][0] if found else None

    # ----- info --------------------------------------------------------------------------------

    def generation(self) -> int:
        return int(self.value("SELECT value FROM info WHERE key = 'generation'") or 0)

    def info(self, key: str) -> int | None:
        found = self.value("SELECT value FROM info WHERE key = ?", (key,))
        return None if found is None else int(found)

    @staticmethod
    def set_info(conn: sqlite3.Connection, key: str, value: int) -> None:
        conn.execute("INSERT INTO info (key, value) VALUES (?, ?) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    # ----- sessions ----------------------------------------------------------------------------

    def stamps_between(self, after: str, last: str | None) -> dict[str, Stamps]:
        """The stamps of the sessions with ids after ``after`` up to ``last`` (to the end: None). A sweep reads
        them a slice at a time: it never holds the connection, nor every row's stamps, for the whole store."""
        upper, params = ("AND id <= ?", (after, last)) if last is not None else ("", (after,))
        rows = self.rows(f"SELECT id, {', '.join(STAMP_FIELDS)} FROM sessions WHERE id > ? {upper}", params)
        return {row[0]: Stamps(*row[1:]) for row in rows}

    def stamps_of(self, session_id: str) -> tuple[Stamps, int | None] | None:
        found = self.rows(f"SELECT {', '.join(STAMP_FIELDS)}, rows_at FROM sessions WHERE id = ?", (session_id,))
        return (Stamps(*found[0][:5]), found[0][5]) if found else None

    @staticmethod
    def put_session(conn: sqlite3.Connection, session_id: str, fields: dict[str, Any],
                    text: tuple[str, str, str, str, str] | None) -> None:
        """Insert or update a session row (only ``fields`` change); ``text`` replaces its search text."""
        names = list(fields)
        conn.execute(f"INSERT INTO sessions (id, visible, {', '.join(n for n in names if n != 'visible')}) "
                     f"VALUES (?, ?, {', '.join('?' for n in names if n != 'visible')}) "
                     f"ON CONFLICT (id) DO UPDATE SET {', '.join(f'{n} = excluded.{n}' for n in names)}",
                     (session_id, fields.get("visible", 0), *(fields[n] for n in names if n != "visible")))
        if text is not None:
            num = conn.execute("SELECT num FROM sessions WHERE id = ?", (session_id,)).fetchone()[0]
            _put_text(conn, num, text)

    @staticmethod
    def update_session(conn: sqlite3.Connection, session_id: str, fields: dict[str, Any]) -> None:
        conn.execute(f"UPDATE sessions SET {', '.join(f'{name} = ?' for name in fields)} WHERE id = ?",
                     (*fields.values(), session_id))

    @staticmethod
    def set_text_columns(conn: sqlite3.Connection, session_id: str, values: dict[str, str]) -> None:
        """Replace some of a session's searchable columns (TEXT_COLUMNS), keeping the others."""
        num = conn.execute("SELECT num FROM sessions WHERE id = ?", (session_id,)).fetchone()[0]
        columns = ", ".join(TEXT_COLUMNS)
        old = conn.execute(f"SELECT {columns} FROM session_text WHERE rowid = ?", (num,)).fetchone()
        merged = {**dict(zip(TEXT_COLUMNS, old or ("",) * len(TEXT_COLUMNS), strict=True)), **values}
        _put_text(conn, num, tuple(merged[c] for c in TEXT_COLUMNS), names=not values.keys().isdisjoint(NAME_COLUMNS))

    @staticmethod
    def merge_search_tables(conn: sqlite3.Connection) -> None:
        for table in SEARCH_TABLES:
            conn.execute(f"INSERT INTO {table} ({table}) VALUES ('optimize')")

    @staticmethod
    def drop_session(conn: sqlite3.Connection, session_id: str) -> None:
        found = conn.execute("SELECT num FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if found:
            for table in SEARCH_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE rowid = ?", (found[0],))
        for table, column in (("sessions", "id"), ("checkpoints", "session_id"), ("blobs", "session_id"),
                              ("marks", "session_id")):
            conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (session_id,))

    @staticmethod
    def put_blobs(conn: sqlite3.Connection, session_id: str, sizes: dict[str, int]) -> None:
        conn.execute("DELETE FROM blobs WHERE session_id = ?", (session_id,))
        conn.executemany("INSERT INTO blobs (session_id, checkpoint_id, bytes) VALUES (?, ?, ?)",
                         [(session_id, cid, size) for cid, size in sizes.items()])
        conn.execute("UPDATE sessions SET kv_bytes = ? WHERE id = ?", (sum(sizes.values()), session_id))

    @staticmethod
    def put_marks(conn: sqlite3.Connection, session_id: str, marks: dict[str, tuple[bool, str, str | None]]) -> None:
        conn.execute("DELETE FROM marks WHERE session_id = ?", (session_id,))
        conn.executemany("INSERT INTO marks (session_id, checkpoint_id, pinned, note, label) VALUES (?, ?, ?, ?, ?)",
                         [(session_id, cid, int(p), note, label) for cid, (p, note, label) in marks.items()])

    @staticmethod
    def put_checkpoints(conn: sqlite3.Connection, session_id: str, rows: list[tuple[Any, ...]]) -> None:
        conn.executemany(f"INSERT OR REPLACE INTO checkpoints (session_id, {', '.join(CHECKPOINT_FIELDS)}) "
                         f"VALUES (?, {', '.join('?' for _ in CHECKPOINT_FIELDS)})",
                         [(session_id, *row) for row in rows])

    # ----- helpers ---------------------------------------------------------------------------

    def _prepare(self) -> None:
        conn = self._conn
        if self.path is not None:
            with contextlib.suppress(sqlite3.OperationalError):  # some network file systems have no WAL
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        # Read first: an index in use by another process is opened without waiting for its writers.
        if self._schema_ok():
            return
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if not self._schema_ok():
                    # An index of another schema version, or with a table missing, is rebuilt from the files.
                    _drop_everything(conn)
                    for statement in filter(str.strip, _SCHEMA.split(";")):
                        conn.execute(statement)
                    # The generation starts at the clock (in microseconds), so a rebuilt index never
                    # hands out a number an earlier one did: revision() always changes.
                    conn.execute("INSERT INTO info (key, value) VALUES ('schema', ?), ('generation', ?)",
                                 (SCHEMA_VERSION, time.time_ns() // 1000))
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise

    def _schema_ok(self) -> bool:
        tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables >= TABLES:
            return False
        version = self._conn.execute("SELECT value FROM info WHERE key = 'schema'").fetchone()
        return version is not None and version[0] == SCHEMA_VERSION


def _put_text(conn: sqlite3.Connection, num: int, text: tuple[str, ...], names: bool = True) -> None:
    """A session's searchable columns, in both search tables (``names``: session_names too)."""
    tables = (("session_text", TEXT_COLUMNS), ("session_names", NAME_COLUMNS))
    for table, columns in tables if names else tables[:1]:
        conn.execute(f"DELETE FROM {table} WHERE rowid = ?", (num,))
        conn.execute(f"INSERT INTO {table} (rowid, {', '.join(columns)}) VALUES (?, {', '.join('?' for _ in columns)})",
                     (num, *text[:len(columns)]))


def _drop_everything(conn: sqlite3.Connection) -> None:
    # An index of another schema version is rebuilt from the files, never migrated. The search table
    # goes first (it drops its own parts), then whatever is left, parts of a broken one included.
    for table in SEARCH_TABLES:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    for kind, name in conn.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").fetchall():
        if kind == "table":
            conn.execute(f'DROP TABLE IF EXISTS "{name}"')
