"""SillyTavern chats (``data/<user>/chats/<character>/<chat name>.jsonl``).

The first line is a header, ``{"user_name", "character_name", "create_date", "chat_metadata"}``;
every further line is one message, ``{"name", "is_user", "is_system", "send_date", "mes",
"swipes", "swipe_id", "extra": {"model", "api", ...}}``. ``mes`` is the swipe on show; the other
swipes and hidden (``is_system``) messages are not part of the conversation the model saw.
"""

from __future__ import annotations

from typing import Any

from ..errors import NothingToImport
from ..models import ChatContext, ModelInfo
from ..store.bundle import SessionBundle
from .bundle_builder import chat_checkpoint, session_bundle
from .common import Source, parse_time, require
from .messages import Message


def looks_like_sillytavern(first_line: Any) -> bool:
    return isinstance(first_line, dict) and "character_name" in first_line and "user_name" in first_line


def read_sillytavern(source: Source) -> SessionBundle:
    rows = source.jsonl
    (_, header), lines = rows[0], rows[1:]
    require(looks_like_sillytavern(header), f"{source.name} is not a SillyTavern chat (its first line is not a "
                                            "header with user_name and character_name)")
    messages: list[Message] = []
    model = None
    for number, line in lines:
        require(isinstance(line, dict) and isinstance(line.get("mes"), str),
                f"{source.name} line {number} is not a SillyTavern message (no 'mes' text)")
        if line.get("is_system"):
            continue
        role = "user" if line.get("is_user") else "assistant"
        messages.append(Message(role, line["mes"], parse_time(line.get("send_date"))))
        extra = line.get("extra")
        if role == "assistant" and isinstance(extra, dict) and isinstance(extra.get("model"), str):
            model = extra["model"]
    if not any(m.content for m in messages):
        raise NothingToImport(f"{source.name} is an empty chat")
    character = str(header.get("character_name") or "") or None
    user = str(header.get("user_name") or "") or None
    times = [m.time for m in messages if m.time is not None]
    saved = max(times) if times else source.mtime
    started = parse_time(header.get("create_date")) or (min(times) if times else saved)
    checkpoint = chat_checkpoint(messages, saved, ChatContext(chat_mode="chat", character=character, user_name=user),
                                 model=ModelInfo(name=model))
    return session_bundle(source.path.stem, [checkpoint], origin=source.origin, mode="chat",
                          created=min(started, saved))
