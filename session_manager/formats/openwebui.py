"""Open WebUI chat exports: "Export chat (.json)" and "Export All Chats" in its settings.

Both write a JSON list of chats, ``{"id", "title", "chat": {...}, "created_at", "updated_at"
(epoch seconds), "pinned", "archived", "meta": {"tags": [...]}}``. ``chat`` holds
``{"title", "models": [...], "system"?, "params": {"system"?}, "history": {"messages":
{id: {"id", "parentId", "childrenIds", "role", "content", "timestamp", "model"?}}, "currentId"},
"messages": [...]}``: a tree of every regenerated branch, and the flat list of the branch on show.
The branch that ends at ``currentId`` is imported (from the flat list when there is no tree).
Kept: the title, tags, pin, ``archived`` (as the tag "archived"), the system prompt, the chat's
sampling parameters (``params``: temperature, top_p, ... under textgen's names) and each reply's
model. Not kept: the folder, the share link (``share_id``), the other branches, files and images.
"""

from __future__ import annotations

from typing import Any

from ..errors import ImportFailed, NothingToImport
from ..limits import MAX_TAG_CHARS, MAX_TAGS
from ..models import ChatContext, ModelInfo
from ..store.bundle import SessionBundle
from .bundle_builder import IMPORTED_TAG, chat_checkpoint, session_bundle
from .common import Source, parse_time, require, session_name
from .messages import Message

_ROLES = ("system", "user", "assistant")
ARCHIVED_TAG = "archived"
# Open WebUI's chat parameters under textgen's names (the others keep their own name).
_PARAM_NAMES = {"max_tokens": "max_new_tokens", "repeat_penalty": "repetition_penalty"}
_PARAM_TYPES = (int, float, str, bool)


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
    raw_params = chat.get("params") if isinstance(chat.get("params"), dict) else {}
    system = chat.get("system") or raw_params.get("system")
    if isinstance(system, str) and system.strip() and not any(m.role == "system" for m in messages):
        messages.insert(0, Message("system", system))
    if not any(m.content for m in messages if m.role != "system"):
        raise NothingToImport("it is an empty chat")
    times = [m.time for m in messages if m.time is not None]
    saved = parse_time(item.get("updated_at")) or (max(times) if times else source.mtime)
    started = parse_time(item.get("created_at")) or (min(times) if times else saved)
    models = chat.get("models")
    model = next((m.model for m in reversed(messages) if m.model), None) or (
        models[0] if isinstance(models, list) and models and isinstance(models[0], str) else None)
    params, seed = _params(raw_params)
    checkpoint = chat_checkpoint(messages, saved, ChatContext(chat_mode="instruct"), params=params,
                                 model=ModelInfo(name=model)).model_copy(update={"seed": seed})
    tags = _tags(item) + ([ARCHIVED_TAG] if item.get("archived") is True else [])
    first_user = next((m.content for m in messages if m.role == "user"), "")
    origin = f"open-webui:{item['id'][:200]}" if isinstance(item.get("id"), str) and item["id"] else (
        f"{source.origin}#{index}")
    return session_bundle(title or session_name(first_user, "Open WebUI chat"), [checkpoint], origin=origin,
                          mode="chat", created=min(started, saved), tags=tags, pinned=bool(item.get("pinned")))


def _branch(chat: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages of the branch on show, oldest first."""
    history = chat.get("history")
    tree = history.get("messages") if isinstance(history, dict) else None
    current = history.get("currentId") if isinstance(history, dict) else None
    if isinstance(tree, dict) and tree and isinstance(current, str) and current in tree:
        branch, seen = [], set()
        while current is not None and current in tree and current not in seen:
            seen.add(current)
            branch.append(tree[current])
            parent = tree[current].get("parentId") if isinstance(tree[current], dict) else None
            current = parent if isinstance(parent, str) else None
        return branch[::-1]
    flat = chat.get("messages")
    if not isinstance(flat, list):
        raise ImportFailed("no messages (neither a history tree nor a list)")
    return flat


def _message(raw: Any) -> Message:
    require(isinstance(raw, dict) and raw.get("role") in _ROLES, "a message has no user, assistant or system role")
    content = raw.get("content")
    if isinstance(content, list):  # multimodal: the text parts
        content = "\n".join(part.get("text", "") for part in content if isinstance(part, dict)
                            and isinstance(part.get("text"), str))
    require(isinstance(content, str), f"a {raw['role']} message has no text ('content' is not a string)")
    model = raw.get("model") if raw["role"] == "assistant" and isinstance(raw.get("model"), str) else None
    return Message(raw["role"], content, parse_time(raw.get("timestamp")), model=model or None)


def _tags(item: dict[str, Any]) -> list[str]:
    meta = item.get("meta")
    tags = meta.get("tags") if isinstance(meta, dict) else None
    if not isinstance(tags, list):
        return [IMPORTED_TAG]
    return [IMPORTED_TAG, *(t.strip()[:MAX_TAG_CHARS] for t in tags[:MAX_TAGS] if isinstance(t, str) and t.strip())]


def _params(raw: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """The chat's sampling parameters under textgen's names, and its seed (the system prompt is the chat's)."""
    params = {_PARAM_NAMES.get(key, key): value for key, value in raw.items()
              if isinstance(key, str) and key not in ("system", "seed") and isinstance(value, _PARAM_TYPES)
              and not (isinstance(value, str) and len(value) > 1000)}
    seed = raw.get("seed")
    return params, seed if isinstance(seed, int) and not isinstance(seed, bool) and abs(seed) < 2**63 else None
