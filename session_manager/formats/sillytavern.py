"""SillyTavern chats (``data/<user>/chats/<character>/<chat name>.jsonl``) and group chats
(``data/<user>/group chats/<id>.jsonl``).

The first line is a header, ``{"user_name", "character_name", "create_date", "chat_metadata"}``;
since 2025 SillyTavern writes ``"unused"`` for both names there (public/script.js ``saveChat``,
public/scripts/group-chats.js ``saveGroupChat``) and the names are on the messages. Group chats
written before that have no header at all. Every further line is one message, ``{"name",
"is_user", "is_system", "send_date", "mes", "swipes", "swipe_id", "extra": {"model", "api",
"type", ...}}``. ``mes`` is the swipe on show. A narrator line (``/sys``, public/scripts/
slash-commands.js ``sendNarratorMessage``) has ``extra.type`` ``"narrator"`` and in some versions
the model ``"slash command"``; it is kept as a narrator line, and a model is taken only from
generated replies. Hidden messages (``is_system: true``) were not part of the conversation the
model saw and are left out.
"""

from __future__ import annotations

from typing import Any

from ..errors import NothingToImport
from ..models import ChatContext, ModelInfo
from ..store.bundle import SessionBundle
from .bundle_builder import chat_checkpoint, session_bundle
from .common import Source, parse_time, require
from .messages import Message

UNUSED = "unused"  # what SillyTavern writes into the header's names since 2025
NARRATOR = "narrator"  # extra.type of a narrator line (system_message_types.NARRATOR)
MAX_NAMES = 200  # characters of a group chat's "Alice, Bob, ..." (the speakers stay on each message)
_NOT_GENERATED = {"manual", "slash command", ""}  # extra.api / extra.model of lines nobody generated


def looks_like_sillytavern(first_line: Any) -> bool:
    return isinstance(first_line, dict) and "character_name" in first_line and "user_name" in first_line


def looks_like_sillytavern_message(line: Any) -> bool:
    """A group chat written without a header: its first line is already a message."""
    return isinstance(line, dict) and isinstance(line.get("mes"), str) and "is_user" in line and "name" in line


def read_sillytavern(source: Source) -> SessionBundle:
    rows = source.jsonl
    header: dict[str, Any] = rows[0][1] if looks_like_sillytavern(rows[0][1]) else {}
    lines = rows[1:] if header else rows
    require(bool(header) or looks_like_sillytavern_message(rows[0][1]),
            f"{source.name} is not a SillyTavern chat (its first line is not a header with user_name and "
            "character_name, nor a message)")
    messages = [m for number, line in lines if (m := _message(source.name, number, line)) is not None]
    if not any(m.content for m in messages):
        raise NothingToImport(f"{source.name} is an empty chat")
    character, user, group = _names(header, lines)
    model = next((m.model for m in reversed(messages) if m.model), None)
    times = [m.time for m in messages if m.time is not None]
    saved = max(times) if times else source.mtime
    started = parse_time(header.get("create_date")) or (min(times) if times else saved)
    checkpoint = chat_checkpoint(messages, saved, ChatContext(chat_mode="chat", character=character, user_name=user),
                                 model=ModelInfo(name=model))
    tags = ("imported", "group chat") if group else ("imported",)
    return session_bundle(source.path.stem, [checkpoint], origin=source.origin, mode="chat",
                          created=min(started, saved), tags=tags)


def _message(file: str, number: int, line: Any) -> Message | None:
    require(isinstance(line, dict) and isinstance(line.get("mes"), str),
            f"{file} line {number} is not a SillyTavern message (no 'mes' text)")
    extra = _extra(line)
    narrator = extra.get("type") == NARRATOR
    if line.get("is_system"):
        return None  # hidden from the model in SillyTavern (a narrator line too, e.g. one that only sets a bias)
    name = line.get("name") if isinstance(line.get("name"), str) and line["name"].strip() else None
    is_user = bool(line.get("is_user")) and not narrator
    model = extra.get("model")
    generated = (not is_user and not narrator and isinstance(model, str)
                 and model.strip() not in _NOT_GENERATED and extra.get("api") != "manual")
    return Message("user" if is_user else "assistant", line["mes"], parse_time(line.get("send_date")),
                   speaker=name, narrator=narrator, model=model.strip() if generated and model else None)


def _names(header: dict[str, Any], lines: list[tuple[int, Any]]) -> tuple[str | None, str | None, bool]:
    """(character, user, is a group chat): from the header unless it says "unused", else from the messages."""
    speakers = [line for _, line in lines if isinstance(line.get("name"), str) and line["name"].strip()
                and not line.get("is_system") and _extra(line).get("type") != NARRATOR]
    characters = list(dict.fromkeys(line["name"].strip() for line in speakers if not line.get("is_user")))
    users = [line["name"].strip() for line in speakers if line.get("is_user")]
    character = _header_name(header, "character_name") or (", ".join(characters)[:MAX_NAMES] if characters else None)
    user = _header_name(header, "user_name") or (users[0] if users else None)
    return character, user, len(characters) > 1


def _extra(line: dict[str, Any]) -> dict[str, Any]:
    extra = line.get("extra")
    return extra if isinstance(extra, dict) else {}


def _header_name(header: dict[str, Any], key: str) -> str | None:
    value = header.get(key)
    return value.strip() if isinstance(value, str) and value.strip() and value.strip() != UNUSED else None
