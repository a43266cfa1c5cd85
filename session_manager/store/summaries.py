"""The light rows the store hands out for lists, pickers, timelines and search results."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from ..models import SessionMeta

# How search marks a hit inside a snippet; SearchHit.marked() turns them into anything else.
HIT_START = "\ue000"
HIT_END = "\ue001"


@dataclass(eq=False)
class SessionSummary:
    """One row of the session list. ``meta`` is parsed on first use, so a long list costs little."""

    id: str
    n_checkpoints: int
    kv_bytes: int
    has_autosave: bool
    meta_json: str = field(repr=False)

    @cached_property
    def meta(self) -> SessionMeta:
        return SessionMeta.model_validate_json(self.meta_json)

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def updated(self) -> datetime:
        return self.meta.updated

    def to_dict(self) -> dict[str, Any]:
        """session.json's fields (as JSON values) with the counts, without building the model."""
        return json.loads(self.to_json())

    def to_json(self) -> str:
        """The same as one JSON object, spliced from the stored text: a list of 10,000 costs milliseconds."""
        counts = (f'"checkpoints":{int(self.n_checkpoints)},"kv_bytes":{int(self.kv_bytes)},'
                  f'"has_autosave":{"true" if self.has_autosave else "false"}')
        return f"{self.meta_json.rstrip()[:-1]},{counts}{self._extra_json()}}}"

    def _extra_json(self) -> str:
        return ""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SessionSummary):
            return NotImplemented
        return (self.id, self.n_checkpoints, self.kv_bytes, self.has_autosave, self.meta_json) == (
            other.id, other.n_checkpoints, other.kv_bytes, other.has_autosave, other.meta_json)

    def __hash__(self) -> int:
        return hash((self.id, self.meta_json))


@dataclass(eq=False)
class SearchHit(SessionSummary):
    """A session that matched a search: ``snippet`` is a short piece of where it matched,
    with each hit between HIT_START and HIT_END; ``rank`` sorts better hits first (lower is better)."""

    snippet: str = ""
    rank: float = 0.0

    def _extra_json(self) -> str:
        return f',"snippet":{json.dumps(self.marked(), ensure_ascii=False)},"rank":{self.rank!r}'

    def marked(self, start: str = "«", end: str = "»") -> str:
        return self.snippet.replace(HIT_START, start).replace(HIT_END, end)

    @property
    def plain_snippet(self) -> str:
        return self.marked("", "")


@dataclass(frozen=True)
class CheckpointSummary:
    """A checkpoint as a picker or a timeline shows it, without reading its file."""

    id: str
    created: datetime
    trigger: str
    mode: str
    label: str  # the mark's label when the user renamed it, else the checkpoint's own
    pinned: bool
    note: str
    model: str | None
    chars: int
    words: int
    tokens: int | None
    kv: bool  # the checkpoint names a KV snapshot
    kv_present: bool  # ... and its blob is still on disk (the budget may have removed it)
    kv_tokens: int | None
    kv_bytes: int  # size of the blob on disk (0 when absent)
    generation_seconds: float | None
    generation_tokens: int | None
    caption: str = ""  # a chat checkpoint's turn and last words ("" otherwise)


@dataclass(frozen=True)
class BranchLink:
    """A session that was branched from another one's checkpoint (its parent), for drawing trees."""

    session_id: str
    name: str
    n_checkpoints: int
    created: datetime
    parent_session: str
    parent_checkpoint: str | None


@dataclass(frozen=True)
class KVBlobInfo:
    session_id: str
    checkpoint_id: str
    path: Path
    size: int
