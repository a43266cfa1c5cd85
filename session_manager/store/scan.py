"""What the index keeps of a session, read from its files (the truth) or taken from a model just written."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from ..chat_history import last_message, turns
from ..errors import BrokenFile, NewerFormat, NotFound
from ..models import Checkpoint, HostLink, SessionMarks, SessionMeta
from .files import StoreFiles, describe_invalid
from .layout import MAX_CHECKPOINT_BYTES, MAX_MARKS_BYTES, MAX_SESSION_BYTES, Layout, Stamps

# The latest state's text is searchable up to this many characters.
MAX_INDEXED_CHARS = 1_000_000
# How much of the latest text a session's row keeps to show (the list's "first words").
FIRST_WORDS_CHARS = 80
# A sweep reads at most this many broken newest checkpoints before it settles for an older one.
_NEWEST_TRIES = 5
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)

SearchText = tuple[str, str, str, str, str]  # name, tags, notes, text, marks (checkpoint notes)
MarkRow = tuple[bool, str, "str | None"]


@dataclass
class SessionScan:
    """One session as the index holds it; ``stamps`` were taken before any file was read."""

    stamps: Stamps
    fields: dict[str, Any]
    text: SearchText
    blobs: dict[str, int] = field(default_factory=dict)
    marks: dict[str, MarkRow] = field(default_factory=dict)


def scan_session(layout: Layout, files: StoreFiles, session_id: str) -> SessionScan:
    stamps = layout.stamps(session_id)
    meta, problem = _read_meta(layout, files, session_id)
    ids = layout.checkpoint_ids(session_id)
    newest = None
    for checkpoint_id in ids[:_NEWEST_TRIES]:
        newest = read_checkpoint_quietly(layout, files, session_id, checkpoint_id)
        if newest is not None:
            break
    autosave = read_autosave_quietly(layout, files, session_id)
    latest = newer(newest, autosave)
    blobs = layout.kv_sizes(session_id)
    fields: dict[str, Any] = {"n_checkpoints": len(ids), "kv_bytes": sum(blobs.values()),
                              "has_autosave": int(autosave is not None), **latest_fields(latest),
                              **size_fields(layout, session_id, sum(blobs.values()))}
    if meta is None:
        fields.update(visible=0, problem=problem, meta_json=None)
        return SessionScan(stamps, fields, ("", "", "", "", ""), blobs)
    fields.update(meta_fields(meta))
    marks = read_marks_quietly(layout, files, session_id)
    return SessionScan(stamps, fields, (*meta_text(meta), search_text(latest), marks_text(marks)), blobs,
                       mark_rows(marks))


def scan_written(layout: Layout, meta: SessionMeta, checkpoints: list[Checkpoint], autosave: Checkpoint | None,
                 marks: SessionMarks | None) -> SessionScan:
    """What scan_session would read from a session this process has just written (and holds the lock of)."""
    stamps = layout.stamps(meta.id)
    latest = newer(max(checkpoints, key=lambda c: c.id, default=None), autosave)
    blobs = layout.kv_sizes(meta.id) if any(c.kv is not None for c in checkpoints) else {}
    marks = marks or SessionMarks()
    fields: dict[str, Any] = {"n_checkpoints": len(checkpoints), "kv_bytes": sum(blobs.values()),
                              "has_autosave": int(autosave is not None), **latest_fields(latest), **meta_fields(meta),
                              **size_fields(layout, meta.id, sum(blobs.values()))}
    return SessionScan(stamps, fields, (*meta_text(meta), search_text(latest), marks_text(marks)), blobs,
                       mark_rows(marks))


def meta_fields(meta: SessionMeta) -> dict[str, Any]:
    return {"visible": 1, "problem": None, "name": meta.name, "created": micros(meta.created),
            "updated": micros(meta.updated), "mode": meta.mode, "tags": tags_key(meta.tags),
            "pinned": int(meta.pinned), "origin": meta.origin, "link_key": link_key(meta.link) if meta.link else None,
            "parent": meta.parent.session if meta.parent else None,
            "meta_json": meta.model_dump_json()}


def size_fields(layout: Layout, session_id: str, kv_bytes: int) -> dict[str, int]:
    """The session's size on disk, measured in full: its checkpoints, its KV blobs and the rest."""
    checkpoint_bytes = layout.checkpoint_bytes(session_id)
    return {"checkpoint_bytes": checkpoint_bytes,
            "disk_bytes": checkpoint_bytes + kv_bytes + layout.small_bytes(session_id)}


def meta_text(meta: SessionMeta) -> tuple[str, str, str]:
    return meta.name, " ".join(meta.tags), meta.notes


def marks_text(marks: SessionMarks) -> str:
    """What search finds of a session's checkpoint marks: their notes and the labels users gave."""
    return "\n".join(part for mark in marks.marks.values() for part in (mark.label or "", mark.note) if part)


def latest_fields(latest: Checkpoint | None) -> dict[str, Any]:
    if latest is None:
        return {"model": None, "latest_created": None, "first_words": None}
    return {"model": latest.model.name, "latest_created": micros(latest.created),
            "first_words": first_words(page_text(latest))}


def first_words(text: str, length: int = FIRST_WORDS_CHARS) -> str:
    """The beginning of a text on one line, cut at a word: what a list shows so a person knows it again."""
    line = " ".join(text[:length * 4].split())
    if len(line) <= length:
        return line
    cut = line[:length].rsplit(" ", 1)[0] if " " in line[:length] else line[:length]
    return cut.rstrip() + "…"


def mark_rows(marks: SessionMarks) -> dict[str, MarkRow]:
    return {cid: (mark.pinned, mark.note, mark.label) for cid, mark in marks.marks.items()}


def checkpoint_row(checkpoint: Checkpoint) -> tuple[Any, ...]:
    """The columns of index.CHECKPOINT_FIELDS."""
    text = page_text(checkpoint)
    kv = checkpoint.kv
    generation = checkpoint.generation
    return (checkpoint.id, micros(checkpoint.created), checkpoint.trigger, checkpoint.mode, checkpoint.label,
            checkpoint.model.name, len(text), len(text.split()), checkpoint.tokens, int(kv is not None),
            kv.n_tokens if kv else None, generation.seconds if generation else None,
            generation.new_tokens if generation else None, caption(checkpoint))


def caption(checkpoint: Checkpoint) -> str:
    """What a picker says of a chat checkpoint besides its time: the turn, and the last words said."""
    if checkpoint.mode != "chat":
        return ""
    said = last_message(checkpoint.history, 40)
    return f"turn {turns(checkpoint.history)}" + (f" · “{said}”" if said else "")


def page_text(checkpoint: Checkpoint) -> str:
    """The text a restore brings back: the chat's messages, else the page (the output holds the prompt)."""
    if checkpoint.history:
        internal = checkpoint.history.get("internal")
        if isinstance(internal, list):
            return "\n".join(part for pair in internal if isinstance(pair, list) for part in pair
                             if isinstance(part, str))
    return checkpoint.output_text or checkpoint.input_text


def search_text(checkpoint: Checkpoint | None) -> str:
    if checkpoint is None:
        return ""
    return f"{checkpoint.label}\n{page_text(checkpoint)}"[:MAX_INDEXED_CHARS]


def newer(a: Checkpoint | None, b: Checkpoint | None) -> Checkpoint | None:
    candidates = [c for c in (a, b) if c is not None]
    return max(candidates, key=lambda c: c.created) if candidates else None


def tags_key(tags: list[str]) -> str:
    """Tags as one string a query can match exactly: "\x1fa\x1fb\x1f" (case-folded)."""
    return "\x1f" + "\x1f".join(t.casefold() for t in tags) + "\x1f" if tags else ""


def link_key(link: HostLink) -> str:
    # The chat id is unique only within a character's folder, so the character is part of the key.
    return json.dumps([link.kind, link.character or "", link.name])


def micros(when: datetime) -> int:
    return (when - _EPOCH) // _MICROSECOND


def read_checkpoint_quietly(layout: Layout, files: StoreFiles, session_id: str,
                            checkpoint_id: str) -> Checkpoint | None:
    try:
        return files.read(layout.checkpoint(session_id, checkpoint_id), Checkpoint, MAX_CHECKPOINT_BYTES,
                          expected_id=checkpoint_id)
    except (BrokenFile, NotFound, NewerFormat):
        return None


def read_autosave_quietly(layout: Layout, files: StoreFiles, session_id: str) -> Checkpoint | None:
    try:
        return files.read(layout.autosave(session_id), Checkpoint, MAX_CHECKPOINT_BYTES)
    except (BrokenFile, NotFound, NewerFormat):
        return None


def read_marks_quietly(layout: Layout, files: StoreFiles, session_id: str) -> SessionMarks:
    try:
        return files.read(layout.marks(session_id), SessionMarks, MAX_MARKS_BYTES)
    except (BrokenFile, NotFound, NewerFormat):
        return SessionMarks()


def _read_meta(layout: Layout, files: StoreFiles, session_id: str) -> tuple[SessionMeta | None, str]:
    path = layout.session_file(session_id)
    try:
        meta = files.read(path, SessionMeta, MAX_SESSION_BYTES, expected_id=session_id)
    except NotFound:
        return None, "session.json is missing (doctor rebuilds it from the checkpoints)"
    except (BrokenFile, NewerFormat) as exc:
        return None, str(exc)
    # The index keeps the model's JSON and reads it back later: it must read back the same.
    try:
        SessionMeta.model_validate_json(meta.model_dump_json())
    except Exception as exc:  # noqa: BLE001 - whatever the reason, the file cannot be listed as it is
        return None, str(files.set_aside(path, f"its fields do not read back the same ({describe_invalid(exc)})"))
    return meta, ""
