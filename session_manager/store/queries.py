"""The questions the store asks index.sqlite, answered as typed rows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ..models import Mode
from .index_db import LIST_COLUMNS, IndexDB
from .layout import Layout
from .scan import micros
from .summaries import HIT_END, HIT_START, BranchLink, CheckpointSummary, KVBlobInfo, SearchHit, SessionSummary

# Column weights of a hit: a word in the name counts most, then tags, notes, the text, checkpoint notes.
_WEIGHTS = (10.0, 5.0, 3.0, 1.0, 3.0)
SNIPPET_WORDS = 16
_WORD = re.compile(r"\w+", re.UNICODE)
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
        clauses, params = ["s.visible = 1"], []
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
    return [SessionSummary(id=r[0], meta_json=r[1], n_checkpoints=r[2], kv_bytes=r[3], has_autosave=bool(r[4]))
            for r in rows]


def session_count(db: IndexDB, where: SearchFilter | None = None) -> int:
    clauses, params = (where or SearchFilter()).where()
    return int(db.value(f"SELECT count(*) FROM sessions s WHERE {' AND '.join(clauses)}", params) or 0)


def hidden_sessions(db: IndexDB) -> list[tuple[str, str]]:
    """(id, why) of session folders that are not listed: no readable session.json, or a newer one."""
    return db.rows("SELECT id, coalesce(problem, '') FROM sessions WHERE visible = 0 ORDER BY id")


def search_sessions(db: IndexDB, query: str, where: SearchFilter, limit: int | None, offset: int) -> list[SearchHit]:
    """Sessions with every word of ``query`` (as a word or the start of one) in their name, tags,
    notes or latest text; best hits first."""
    if not (query or "").strip():
        return [SearchHit(id=r.id, meta_json=r.meta_json, n_checkpoints=r.n_checkpoints, kv_bytes=r.kv_bytes,
                          has_autosave=r.has_autosave) for r in session_page(db, limit, offset, where)]
    match = fts_query(query)
    if match is None:
        return []
    clauses, params = where.where()
    weights = ", ".join(str(w) for w in _WEIGHTS)
    rows = db.rows(
        f"SELECT {_prefixed(LIST_COLUMNS)}, "
        f"snippet(session_text, -1, '{HIT_START}', '{HIT_END}', '…', {SNIPPET_WORDS}), "
        f"bm25(session_text, {weights}) AS rank "
        "FROM session_text JOIN sessions s ON s.num = session_text.rowid "
        f"WHERE session_text MATCH ? AND {' AND '.join(clauses)} "
        "ORDER BY rank, s.updated DESC LIMIT ? OFFSET ?", (match, *params, _limit(limit), max(0, offset)))
    return [SearchHit(id=r[0], meta_json=r[1], n_checkpoints=r[2], kv_bytes=r[3], has_autosave=bool(r[4]),
                      snippet=" ".join(r[5].split()), rank=float(r[6])) for r in rows]


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
    return [r[0] for r in db.rows(f"SELECT id FROM sessions WHERE {column} = ? AND visible = 1 "
                                  "ORDER BY updated DESC, id DESC", (value,))]


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
    """Every visible session that has a parent, oldest first (one pass over the index, no file read)."""
    rows = db.rows("SELECT id, name, n_checkpoints, created, json_extract(meta_json, '$.parent.session'), "
                   "json_extract(meta_json, '$.parent.checkpoint') FROM sessions "
                   "WHERE visible = 1 AND json_extract(meta_json, '$.parent.session') IS NOT NULL "
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
