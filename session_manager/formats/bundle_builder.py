"""Building the SessionBundle a reader hands the store: one shape for every foreign format."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..errors import InvalidName
from ..models import (
    ChatContext,
    Checkpoint,
    HostLink,
    Mode,
    ModelInfo,
    SessionMeta,
    Trigger,
    new_checkpoint_id,
    new_session_id,
)
from ..store import clean_name
from ..store.bundle import SessionBundle
from .messages import Message, history_from_messages, system_param

IMPORTED_TAG = "imported"


def chat_checkpoint(messages: Sequence[Message], created: datetime, chat: ChatContext,
                    params: dict[str, Any] | None = None, model: ModelInfo | None = None,
                    trigger: Trigger = "import", label: str = "") -> Checkpoint:
    """A chat checkpoint; a leading system message becomes the text textgen reads as its system text."""
    params = dict(params or {})
    system = [m.content for m in messages if m.role == "system" and m.content]
    if system:
        params[system_param(chat.chat_mode)] = "\n\n".join(system)
    return Checkpoint(id=new_checkpoint_id(created), created=created, mode="chat", trigger=trigger, label=label,
                      history=history_from_messages(list(messages)), params=params, model=model or ModelInfo(),
                      chat=chat)


def session_bundle(name: str, checkpoints: list[Checkpoint], *, origin: str, mode: Mode,
                   autosave: Checkpoint | None = None, link: HostLink | None = None,
                   created: datetime | None = None, tags: Sequence[str] = (IMPORTED_TAG,),
                   notes: str = "", pinned: bool = False) -> SessionBundle:
    """A new session (its id is a placeholder: the store gives it one) spanning its checkpoints' times."""
    times = [c.created for c in checkpoints] + ([autosave.created] if autosave else [])
    start = created or min(times)
    updated = max([start, *times])
    meta = SessionMeta(id=new_session_id(start), name=_label(name), created=start, updated=updated, mode=mode,
                       tags=list(tags), notes=notes, pinned=pinned, link=link, origin=origin)
    return SessionBundle(meta=meta, checkpoints=sorted(checkpoints, key=lambda c: c.id), autosave=autosave)


def has_text(checkpoint: Checkpoint) -> bool:
    """True when the checkpoint holds any words (a history with a non-empty message counts)."""
    if checkpoint.input_text.strip() or checkpoint.output_text.strip():
        return True
    rows = (checkpoint.history or {}).get("internal") or []
    return any(isinstance(part, str) and part.strip() for row in rows if isinstance(row, list) for part in row)


def _label(name: str) -> str:
    try:
        return clean_name(name)
    except InvalidName:  # nothing visible in it (a title of spaces or control characters)
        return "Imported session"
