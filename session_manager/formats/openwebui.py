"""Open WebUI chat exports: "Export chat (.json)" and "Export All Chats" in its settings.

Both write a JSON list of chats, ``{"id", "title", "chat": {...}, "created_at", "updated_at"
(epoch seconds), "pinned", "archived", "meta": {"tags": [...]}}``. ``chat`` holds
``{"title", "models": [...], "system"?, "params": {"system"?}, "history": {"messages":
{id: {"id", "parentId", "childrenIds", "role", "content", "timestamp", "model"?}}, "currentId"},
"messages": [...]}``: a tree of every regenerated branch, and the flat list of the branch on show.
The branch that ends at ``currentId`` is imported (from the flat list when there is no tree).
"""

from __future__ import annotations

from typing import Any

from ..errors import ImportFailed, NothingToImport
from ..models import ChatContext, ModelInfo
from ..store.bundle import SessionBundle
from .bundle_builder import IMPORTED_TAG, chat_checkpoint, session_bundle
from .common import Source, parse_time, require, session_name
from .messages import Message

_ROLES = ("system", "user", "assistant")


def looks_like_open_webui(data: Any) -> bool:
    chats = data if isinstance(data, list) else [data]
    return bool(chats) and all(isinstance(c, dict) and isinstance(c.get("chat"), dict) for c in chats)


def read_open_webui(source: Source) -> list[tuple[str, SessionBundle | ImportFailed]]:
    """(label, bundle) for every chat in the export; a chat that cannot be read gives its error instead."""
    data = source.json
    require(looks_like_open_webui(data), f"{source.name} is not an Open WebUI chat export (expected a list of "
                                         "objects with a 'chat')")
    chats = data if isinstance(data, list) else [data]
    results: list[tuple[str, SessionBundle | ImportFailed]] = []
    for index, item in enumerate(chats):
        title = str(item.get("title") or item["chat"].get("title") or "").strip()
        label = f"{source.name} #{index + 1}" + (f" {title!r}" if title else "")
        try:
            results.append((label, _chat(item, title, source, index)))
        except ImportFailed as exc:
            results.append((label, type(exc)(f"{label}: {exc}")))
    return results


def _chat(item: dict[str, Any], title: str, source: Source, index: int) -> SessionBundle:
    chat = item["chat"]
    messages = [_message(m) for m in _branch(chat)]
    params = chat.get("params") if isinstance(chat.get("params"), dict) else {}
    system = chat.get("system") or params.get("system")
    if isinstance(system, str) and system.strip() and not any(m.role == "system" for m in messages):
        messages.insert(0, Message("system", system))
    if not any(m.content for m in messages if m.role != "system"):
        raise NothingToImport("it is an empty chat")
    times = [m.time for m in messages if m.time is not None]
    saved = parse_time(item.get("updated_at")) or (max(times) if times else source.mtime)
    started = parse_time(item.get("created_at")) or (min(times) if times else saved)
    models = chat.get("models")
    model = models[0] if isinstance(models, list) and models and isinstance(models[0], str) else None
    checkpoint = chat_checkpoint(messages, saved, ChatContext(chat_mode="instruct"), model=ModelInfo(name=model))
    tags = (item.get("meta") or {}).get("tags") if isinstance(item.get("meta"), dict) else None
    tags = [IMPORTED_TAG, *(t for t in tags or [] if isinstance(t, str) and t.strip())]
    first_user = next((m.content for m in messages if m.role == "user"), "")
    origin = f"open-webui:{item['id']}" if isinstance(item.get("id"), str) and item["id"] else (
        f"{source.origin}#{index}")
    return session_bundle(title or session_name(first_user, "Open WebUI chat"), [checkpoint], origin=origin,
                          mode="chat", created=min(started, saved), tags=tags, pinned=bool(item.get("pinned")))


def _branch(chat: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages of the branch on show, oldest first."""
    history = chat.get("history")
    tree = history.get("messages") if isinstance(history, dict) else None
    current = history.get("currentId") if isinstance(history, dict) else None
    if isinstance(tree, dict) and tree and current in tree:
        branch, seen = [], set()
        while current is not None and current in tree and current not in seen:
            seen.add(current)
            branch.append(tree[current])
            current = tree[current].get("parentId") if isinstance(tree[current], dict) else None
        return branch[::-1]
    flat = chat.get("messages")
    require(isinstance(flat, list), "no messages (neither a history tree nor a list)")
    return flat


def _message(raw: Any) -> Message:
    require(isinstance(raw, dict) and raw.get("role") in _ROLES, "a message has no user, assistant or system role")
    content = raw.get("content")
    if isinstance(content, list):  # multimodal: the text parts
        content = "\n".join(part.get("text", "") for part in content if isinstance(part, dict)
                            and isinstance(part.get("text"), str))
    require(isinstance(content, str), f"a {raw['role']} message has no text")
    return Message(raw["role"], content, parse_time(raw.get("timestamp")))
