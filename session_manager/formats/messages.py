"""Conversations as plain role/content messages, and back into textgen's chat history.

textgen keeps a chat as ``{"internal": [[user, bot], ...], "visible": [...], "metadata": {...}}``:
``internal`` is the raw text, ``visible`` the HTML-escaped text the page shows, and a greeting
sits in a row whose user side is ``<|BEGIN-VISIBLE-CHAT|>``. Every chat format in and out goes
through the two functions here, so they agree on that shape.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ..models import ChatMode, Checkpoint

Role = Literal["system", "user", "assistant"]
GREETING_MARK = "<|BEGIN-VISIBLE-CHAT|>"
_TIME_FORMAT = "%b %d, %Y %H:%M"  # textgen's message timestamps (local time)


@dataclass(frozen=True)
class Message:
    role: Role
    content: str
    time: datetime | None = None


def history_from_messages(messages: list[Message]) -> dict[str, Any]:
    """textgen's chat history of ``messages`` (system messages are not part of it; empty ones are dropped)."""
    rows: list[list[str]] = []
    times: dict[str, datetime] = {}
    for message in messages:
        if not message.content or message.role == "system":
            continue
        if message.role == "user":
            rows.append([message.content, ""])
            key = f"user_{len(rows) - 1}"
        elif rows and rows[-1][1] == "" and rows[-1][0]:
            rows[-1][1] = message.content
            key = f"assistant_{len(rows) - 1}"
        else:
            rows.append([GREETING_MARK if not rows else "", message.content])
            key = f"assistant_{len(rows) - 1}"
        if message.time is not None:
            times[key] = message.time
    visible = [["" if user == GREETING_MARK else html.escape(user), html.escape(bot)] for user, bot in rows]
    metadata = {key: {"timestamp": when.astimezone().strftime(_TIME_FORMAT)} for key, when in times.items()}
    return {"internal": rows, "visible": visible, "metadata": metadata}


def messages_from_history(history: dict[str, Any] | None) -> list[Message]:
    """The user and assistant messages of a textgen history, raw text, in order (no system message)."""
    if not history:
        return []
    rows = history.get("internal")
    if not isinstance(rows, list):
        raise ValueError("its history has no 'internal' list of [user, bot] rows")
    messages = []
    for index, row in enumerate(rows):
        if not (isinstance(row, list) and len(row) >= 2 and all(isinstance(part, str) for part in row[:2])):
            raise ValueError(f"row {index} of its history is not a [user, bot] pair of texts")
        user, bot = row[0], row[1]
        if user and user != GREETING_MARK:
            messages.append(Message("user", user))
        if bot:
            messages.append(Message("assistant", bot))
    return messages


def system_param(chat_mode: ChatMode) -> str:
    """Where textgen reads a conversation's system text: the instruct system message, or the character context."""
    return "custom_system_message" if chat_mode == "instruct" else "context"


def conversation(checkpoint: Checkpoint) -> list[Message]:
    """A chat checkpoint as messages, with its system text first when it has one."""
    chat_mode = checkpoint.chat.chat_mode if checkpoint.chat else "chat"
    system = checkpoint.params.get(system_param(chat_mode))
    messages = messages_from_history(checkpoint.history)
    if isinstance(system, str) and system.strip():
        names = checkpoint.chat
        system = _fill_names(system, names.user_name if names else None, names.character if names else None)
        messages.insert(0, Message("system", system))
    return messages


def _fill_names(text: str, user: str | None, character: str | None) -> str:
    # textgen's placeholders, replaced the way it does before a prompt is built.
    if user:
        text = text.replace("{{user}}", user).replace("<USER>", user)
    if character:
        text = text.replace("{{char}}", character).replace("<BOT>", character)
    return text
