"""The questions the store asks index.sqlite, answered as typed rows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ..models import Mode
from .index_db import LIST_COLUMNS, TEXT_COLUMNS, IndexDB
from .layout import Layout
from .scan import micros
from .snippets import snippet
from .summaries import BranchLink, CheckpointSummary, KVBlobInfo, SearchHit, SessionSummary

# Column weights of a hit: a word in the name counts most, then tags, notes, the text, checkpoint notes.
_WEIGHTS = (10.0, 5.0, 3.0, 1.0, 3.0)
_BM25 = ", ".join(str(w) for w in _WEIGHTS)
_NAME_BM25 = ", ".join(str(w) for w in _WEIGHTS[:3])
SNIPPET_WORDS = 16
# Up to this many hits, every hit is ranked; beyond, the page is found without ranking them all.
RANK_ALL = 2_000
# The search table drives every search (CROSS JOIN keeps SQLite from testing each session in turn).
_HITS = "session_text CROSS JOIN sessions s ON s.num = session_text.rowid"
_WORD = re.compile(r"\w+", re.UNICODE)
_WHOLE_WORDS = re.compile(r'"\*')  # "word"* (the word and the words it begins) becomes "word"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class SearchFilter:
    """What a search or a list keeps: every given condition must hold."""

    tag: str | None = None
    model: str | None = None
    mode: Mode | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self) -> tuple[list[str], list[Any]]:
        clauses: list[str] = ["s.visible = 1"]
        params: list[Any] = []
        if self.tag:
            clauses.append("instr(s.tags, ?) > 0")
            params.append(f"\x1f{self.tag.strip().casefold()}\x1f")
        if self.model:
            clauses.append("instr(lower(coalesce(s.model, '')), ?) > 0")
            params.append(self.model.strip().lower())
        if self.mode:
            clauses.append("s.mode = ?")
            params.append(self.mode)
        if self.since is not None:
            clauses.append("s.updated >= ?")
            params.append(micros(_aware(self.since)))
        if self.until is not None:
            clauses.append("s.updated < ?")
            params.append(micros(_aware(self.until)))
        return clauses, params


def session_page(db: IndexDB, limit: int | None, offset: int,
                 where: SearchFilter | None = None) -> list[SessionSummary]:
    clauses, params = (where or SearchFilter()).where()
    rows = db.rows(f"SELECT {_prefixed(LIST_COLUMNS)} FROM sessions s WHERE {' AND '.join(clauses)} "
                   "ORDER BY s.updated DESC, s.id DESC LIMIT ? OFFSET ?", (*params, _limit(limit), max(0, offset)))
    return _summaries(rows)


def session_count(db: IndexDB, where: SearchFilter | None = None) -> int:
    clauses, params = (where or SearchFilter()).where()
    return int(db.value(f"SELECT count(*) FROM sessions s WHERE {' AND '.join(clauses)}", params) or 0)


def hidden_sessions(db: IndexDB) -> list[tuple[str, str]]:
    """(id, why) of session folders that are not listed: no readable session.json, or a newer one."""
    return db.rows("SELECT id, coalesce(problem, '') FROM sessions WHERE visible = 0 ORDER BY id")


def search_sessions(db: IndexDB, query: str, where: SearchFilter, limit: int | None, offset: int,
                    with_snippets: bool = True) -> list[SearchHit]:
    """Sessions with every word of ``query`` (as a word or the start of one) in their name, tags,
    notes or latest text; best hits first (see _recent_hits for a word most sessions hold)."""
    if not (query or "").strip():
        return [SearchHit(id=r.id, meta_json=r.meta_json, n_checkpoints=r.n_checkpoints, kv_bytes=r.kv_bytes,
                          has_autosave=r.has_autosave) for r in session_page(db, limit, offset, where)]
    match = fts_query(query)
    if match is None:
        return []
    clauses, params = where.where()
    if matches_more_than(db, match, RANK_ALL):
        rows = _recent_hits(db, match, clauses, params, limit, offset)
    else:
        # Rank first, then build snippets for the rows kept only.
        rows = db.rows(
            f"SELECT {_prefixed(LIST_COLUMNS)}, s.num, bm25(session_text, {_BM25}) AS rank "
            "FROM session_text CROSS JOIN sessions s ON s.num = session_text.rowid "
            f"WHERE session_text MATCH ? AND {' AND '.join(clauses)} "
            "ORDER BY rank, s.updated DESC LIMIT ? OFFSET ?", (match, *params, _limit(limit), max(0, offset)))
    snippets = _snippets(db, query, [r[5] for r in rows]) if with_snippets else {}
    return [SearchHit(id=r[0], meta_json=r[1], n_checkpoints=r[2], kv_bytes=r[3], has_autosave=bool(r[4]),
                      snippet=" ".join(snippets.get(r[5], "").split()), rank=float(r[6])) for r in rows]


def matches_more_than(db: IndexDB, match: str, count: int, table: str = "session_text") -> bool:
    """Whether more than ``count`` rows match. Counting stops at count + 1, but SQLite reads every hit of a
    word searched as a prefix before the first one comes: the words as whole words are counted first, and
    when they alone are more than ``count``, so are their prefixes."""
    query = f"SELECT count(*) > ? FROM (SELECT rowid FROM {table} WHERE {table} MATCH ? LIMIT ?)"
    return bool(db.value(query, (count, _WHOLE_WORDS.sub('"', match), count + 1))) or \
        bool(db.value(query, (count, match, count + 1)))


def _recent_hits(db: IndexDB, match: str, clauses: list[str], params: list[Any], limit: int | None,
                 offset: int) -> list[tuple[Any, ...]]:
    """A word too common to rank every hit: sessions whose name, tags or notes hold it first (ranked when
    they are few, else newest first), then the others newest first (the index walks them in that order and
    stops at the page). The names are looked up in their own table, session_names: in session_text, finding
    the hits in a name would mean reading where the word stands in every session that holds it."""
    where = " AND ".join(clauses)
    named_hits = "FROM session_names CROSS JOIN sessions s ON s.num = session_names.rowid " \
                 f"WHERE session_names MATCH ? AND {where}"
    start, wanted = max(0, offset), None if limit is None else max(0, limit)
    if not matches_more_than(db, match, RANK_ALL, "session_names"):
        first = db.rows(f"SELECT {_prefixed(LIST_COLUMNS)}, s.num, bm25(session_names, {_NAME_BM25}) AS rank "
                        f"{named_hits} ORDER BY rank, s.updated DESC", (match, *params))
        named = len(first)
        page = first[start:None if wanted is None else start + wanted]
        # The numbers come from the index itself (integers): written into the statement, no limit on parameters.
        skip = f" AND session_text.rowid NOT IN ({', '.join(str(int(r[5])) for r in first)})" if first else ""
        skip_params: tuple[Any, ...] = ()
    else:
        named = int(db.value(f"SELECT count(*) {named_hits}", (match, *params)) or 0)
        page = db.rows(f"SELECT {_prefixed(LIST_COLUMNS)}, s.num, 0.0 {named_hits} "
                       "ORDER BY session_names.rowid DESC LIMIT ? OFFSET ?",
                       (match, *params, -1 if wanted is None else wanted, start))
        skip = " AND session_text.rowid NOT IN (SELECT rowid FROM session_names WHERE session_names MATCH ?)"
        skip_params = (match,)
    if wanted is not None and len(page) >= wanted:
        return page
    rest = db.rows(
        f"SELECT {_prefixed(LIST_COLUMNS)}, s.num, 0.0 FROM {_HITS} "
        f"WHERE session_text MATCH ? AND {where}{skip} ORDER BY session_text.rowid DESC LIMIT ? OFFSET ?",
        (match, *params, *skip_params, -1 if wanted is None else wanted - len(page), max(0, start - named)))
    return page + rest


def _snippets(db: IndexDB, query: str, nums: list[int]) -> dict[int, str]:
    words = [word for word in _WORD.findall(query or "") if any(ch.isalnum() for ch in word)]
    found: dict[int, str] = {}
    for num in nums:
        row = db.rows(f"SELECT {', '.join(TEXT_COLUMNS)} FROM session_text WHERE rowid = ?", (num,))
        if row:
            found[num] = snippet(tuple(row[0]), words, SNIPPET_WORDS)
    return found


def search_count(db: IndexDB, query: str, where: SearchFilter) -> int:
    """How many sessions a search finds (no ranking, no snippet)."""
    if not (query or "").strip():
        return session_count(db, where)
    match = fts_query(query)
    if match is None:
        return 0
    clauses, params = where.where()
    return int(db.value("SELECT count(*) FROM session_text CROSS JOIN sessions s ON s.num = session_text.rowid "
                        f"WHERE session_text MATCH ? AND {' AND '.join(clauses)}", (match, *params)) or 0)


def sessions_after(db: IndexDB, after: tuple[int, str] | None, limit: int,
                   where: SearchFilter | None = None) -> list[SessionSummary]:
    """The next page of the session list after the row (updated, id): pages cost the same at any depth."""
    clauses, params = (where or SearchFilter()).where()
    if after is not None:
        clauses.append("(s.updated, s.id) < (?, ?)")
        params.extend(after)
    rows = db.rows(f"SELECT {_prefixed(LIST_COLUMNS)}, s.updated FROM sessions s WHERE {' AND '.join(clauses)} "
                   "ORDER BY s.updated DESC, s.id DESC LIMIT ?", (*params, max(0, limit)))
    return [SessionSummary(id=r[0], meta_json=r[1], n_checkpoints=r[2], kv_bytes=r[3], has_autosave=bool(r[4]),
                           sort_key=(r[5], r[0])) for r in rows]


def session_row(db: IndexDB, session_id: str) -> SessionSummary | None:
    """One visible session's row, by its exact id."""
    rows = db.rows(f"SELECT {LIST_COLUMNS} FROM sessions WHERE id = ? AND visible = 1", (session_id,))
    return _summaries(rows)[0] if rows else None


def sessions_named(db: IndexDB, name: str, limit: int = 20) -> list[SessionSummary]:
    """Visible sessions whose name is exactly ``name``, newest first."""
    # The name index (case-insensitive) finds the few candidates; "+updated" keeps SQLite from walking the
    # update index instead, which reads every session.
    return _summaries(db.rows(f"SELECT {LIST_COLUMNS} FROM sessions WHERE visible = 1 AND name = ? COLLATE NOCASE "
                              "AND name = ? ORDER BY +updated DESC, id DESC LIMIT ?", (name, name, limit)))


def session_names(db: IndexDB) -> list[tuple[str, str]]:
    """(id, name) of every visible session: names only, no JSON (for a case-insensitive name match)."""
    return db.rows("SELECT id, coalesce(name, '') FROM sessions WHERE visible = 1")


def sessions_with_prefix(db: IndexDB, prefix: str, limit: int = 20) -> list[SessionSummary]:
    """Visible sessions whose id starts with ``prefix`` (an index range, not a scan)."""
    return _summaries(db.rows(f"SELECT {LIST_COLUMNS} FROM sessions WHERE id >= ? AND id < ? AND +visible = 1 "
                              "ORDER BY id LIMIT ?", (prefix, prefix + "\U0010ffff", limit)))


def _summaries(rows: list[tuple[Any, ...]]) -> list[SessionSummary]:
    return [SessionSummary(id=r[0], meta_json=r[1], n_checkpoints=r[2], kv_bytes=r[3], has_autosave=bool(r[4]))
            for r in rows]


def fts_query(query: str) -> str | None:
    """Each word of the query as a quoted prefix term; None when the query has no word at all."""
    # A "word" of underscores only is no word to the index's tokenizer: it would match nothing.
    words = [word for word in _WORD.findall(query or "") if any(ch.isalnum() for ch in word)]
    if not words:
        return None
    return " AND ".join(f'"{word}"*' for word in words)


def session_ids_where(db: IndexDB, column: str, value: str) -> list[str]:
    """Visible sessions whose ``column`` (origin or link_key) equals ``value``, most recently changed first."""
    assert column in ("origin", "link_key")
    # "+visible" and the sort here keep SQLite on the origin/link index: ordering by the update index
    # instead scans every session, which made each lookup of a 100,000-session import slower than the last.
    rows = db.rows(f"SELECT id, updated FROM sessions WHERE {column} = ? AND +visible = 1", (value,))
    return [r[0] for r in sorted(rows, key=lambda r: (r[1] or 0, r[0]), reverse=True)]


def checkpoint_page(db: IndexDB, session_id: str, limit: int | None, offset: int) -> list[CheckpointSummary]:
    rows = db.rows(
        "SELECT c.id, c.created, c.trigger, c.mode, coalesce(m.label, c.label), coalesce(m.pinned, 0), "
        "coalesce(m.note, ''), c.model, c.chars, c.words, c.tokens, c.kv_ref, b.bytes, c.kv_tokens, "
        "c.gen_seconds, c.gen_tokens, c.caption "
        "FROM checkpoints c "
        "LEFT JOIN marks m ON m.session_id = c.session_id AND m.checkpoint_id = c.id "
        "LEFT JOIN blobs b ON b.session_id = c.session_id AND b.checkpoint_id = c.id "
        "WHERE c.session_id = ? ORDER BY c.id DESC LIMIT ? OFFSET ?", (session_id, _limit(limit), max(0, offset)))
    return [CheckpointSummary(
        id=r[0], created=from_micros(r[1]), trigger=r[2], mode=r[3], label=r[4] or "", pinned=bool(r[5]),
        note=r[6] or "", model=r[7], chars=r[8] or 0, words=r[9] or 0, tokens=r[10], kv=bool(r[11]),
        kv_present=bool(r[11]) and r[12] is not None, kv_tokens=r[13], kv_bytes=r[12] or 0,
        generation_seconds=r[14], generation_tokens=r[15], caption=r[16] or "") for r in rows]


def branch_links(db: IndexDB) -> list[BranchLink]:
    """Every visible session that has a parent, oldest first (from the index's own list of them, no file read)."""
    rows = db.rows("SELECT id, name, n_checkpoints, created, json_extract(meta_json, '$.parent.session'), "
                   "json_extract(meta_json, '$.parent.checkpoint') FROM sessions "
                   # "+visible": the partial index on parent answers this; the one on visible would scan all
                   "WHERE parent IS NOT NULL AND +visible = 1 "
                   "ORDER BY created, id")
    return [BranchLink(r[0], r[1] or "", r[2] or 0, from_micros(r[3]), r[4], r[5]) for r in rows]


def blobs(db: IndexDB, layout: Layout) -> list[KVBlobInfo]:
    """Every KV blob in the store, oldest first (ids sort by time)."""
    rows = db.rows("SELECT session_id, checkpoint_id, bytes FROM blobs ORDER BY checkpoint_id, session_id")
    return [KVBlobInfo(sid, cid, layout.kv(sid, cid), size) for sid, cid, size in rows]


def pinned_checkpoints(db: IndexDB) -> set[tuple[str, str]]:
    return {(sid, cid) for sid, cid in db.rows("SELECT session_id, checkpoint_id FROM marks WHERE pinned = 1")}


def from_micros(value: int | None) -> datetime:
    return _EPOCH + timedelta(microseconds=value or 0)


def _aware(when: datetime) -> datetime:
    # A date typed without a zone means local time, the way the list shows dates.
    return when if when.tzinfo is not None else when.astimezone()


def _limit(limit: int | None) -> int:
    return -1 if limit is None else max(0, limit)


def _prefixed(columns: str) -> str:
    return ", ".join(f"s.{c.strip()}" for c in columns.split(","))
