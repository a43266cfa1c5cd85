"""Chat histories as textgen keeps them: {"internal": [[user, bot], ...], "visible": [...], "metadata": {...}}.

textgen marks a greeting row with this user text; swipes keep older replies in
``metadata["assistant_<row>"]["versions"]`` with a ``current_version_index``.
"""

from __future__ import annotations

import html
from typing import Any

GREETING = "<|BEGIN-VISIBLE-CHAT|>"


def empty_history() -> dict[str, Any]:
    return {"internal": [], "visible": [], "metadata": {}}


def rows(history: dict[str, Any] | None) -> list[list[str]]:
    internal = (history or {}).get("internal") or []
    return [row for row in internal if isinstance(row, list) and len(row) == 2]


def turns(history: dict[str, Any] | None) -> int:
    """Exchanges of the user with the bot (a greeting is not one)."""
    return sum(1 for user, _ in rows(history) if user != GREETING)


def version_indexes(history: dict[str, Any] | None) -> dict[str, int]:
    metadata = (history or {}).get("metadata") or {}
    return {key: value["current_version_index"] for key, value in metadata.items()
            if key.startswith("assistant_") and isinstance(value, dict) and "current_version_index" in value}


def swiped(before: dict[str, Any] | None, after: dict[str, Any] | None) -> bool:
    """The same conversation, another version of a reply shown: a swipe (not a new reply or an edit)."""
    old, new = rows(before), rows(after)
    if not old or len(old) != len(new) or [u for u, _ in old] != [u for u, _ in new]:
        return False
    changed = {k: v for k, v in version_indexes(after).items() if version_indexes(before).get(k) != v}
    return bool(changed) and all(key in version_indexes(before) for key in changed)


def text_of(history: dict[str, Any] | None) -> str:
    """The conversation as plain text (for search, word counts, documents)."""
    lines = []
    for user, bot in rows(history):
        if user and user != GREETING:
            lines.append(html.unescape(user))
        if bot:
            lines.append(html.unescape(bot))
    return "\n\n".join(lines)


def first_message(history: dict[str, Any] | None) -> str:
    """The user's first message: what a chat is about, for its name."""
    for user, _ in rows(history):
        if user and user != GREETING:
            return html.unescape(user)
    return ""


def last_message(history: dict[str, Any] | None, limit: int = 60) -> str:
    for user, bot in reversed(rows(history)):
        text = bot or (user if user != GREETING else "")
        if text:
            words = " ".join(html.unescape(text).split())
            return words if len(words) <= limit else words[: limit - 1] + "…"
    return ""
