"""textgen's own saved work: Notebook/Default prompt files and chat histories.

Where textgen keeps them (modules/ui_notebook.py, modules/chat.py), under ``user_data/logs/``:

- ``notebook/<prompt>.txt``: the text of a Default/Notebook prompt, plain UTF-8, rewritten while
  it is edited or generated. A new prompt starts as ``In this story,``.
- ``chat/<character>/<unique_id>.json`` (chat and chat-instruct modes) and
  ``instruct/<unique_id>.json``: ``{"internal": [[user, bot], ...], "visible": [...],
  "metadata": {"user_0": {"timestamp": ...}, "assistant_0": {...}}}``, the id a local time
  ``%Y%m%d-%H-%M-%S`` unless the chat was renamed. Older files hold ``data``/``data_visible``.

Each file becomes one session that follows it (``meta.link``), with one checkpoint of its present state.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from ..errors import ImportFailed, NothingToImport
from ..models import ChatContext, ChatMode, Checkpoint, HostLink, new_checkpoint_id
from ..store.bundle import SessionBundle
from .bundle_builder import session_bundle
from .common import Source, parse_time, require, session_name
from .messages import GREETING_MARK, messages_from_history

STARTER_TEXT = "In this story,"  # what textgen writes into every new prompt file
MAX_FILES = 100_000
_DATED_ID = re.compile(r"^\d{8}-\d{2}-\d{2}-\d{2}$")

Kind = Literal["prompt", "chat", "instruct"]


@dataclass(frozen=True)
class TextgenFile:
    """A file of textgen's saved work and what it is."""

    path: Path
    kind: Kind
    character: str | None = None  # the chat's character (chat kind only)

    @property
    def origin(self) -> str:
        """Stable across edits of the file: a second import finds the session made by the first."""
        if self.kind == "prompt":
            return f"textgen-prompt:{self.path.stem}"
        if self.kind == "instruct":
            return f"textgen-instruct:{self.path.stem}"
        return f"textgen-chat:{self.character}/{self.path.stem}"

    @property
    def label(self) -> str:
        if self.kind == "chat":
            return f"chat/{self.character}/{self.path.name}"
        return f"{'notebook' if self.kind == 'prompt' else 'instruct'}/{self.path.name}"


def find_textgen_work(folder: Path) -> list[TextgenFile]:
    """Every prompt and chat file under a textgen folder (its root, its user_data, or user_data/logs)."""
    logs = textgen_logs_dir(folder)
    if logs is None:
        raise ImportFailed(f"{folder} holds no textgen logs folder (looked for user_data/logs and logs)")
    found = [TextgenFile(path, "prompt") for path in _files(logs / "notebook", ".txt")]
    found += [TextgenFile(path, "instruct") for path in _files(logs / "instruct", ".json")]
    for character_dir in _entries(logs / "chat", directories=True):
        found += [TextgenFile(path, "chat", character_dir.name) for path in _files(character_dir, ".json")]
    if len(found) > MAX_FILES:
        raise ImportFailed(f"{logs} holds more than {MAX_FILES} prompt and chat files; import a part of them")
    return found


def textgen_logs_dir(folder: Path) -> Path | None:
    for candidate in (folder / "user_data" / "logs", folder / "logs", folder):
        if candidate.name == "logs" and candidate.is_dir():
            return candidate
    return None


def textgen_file_of(path: Path) -> TextgenFile | None:
    """What a file is by where textgen keeps it, or None when it is not in a textgen logs folder."""
    parent = path.parent
    if parent.parent.name == "logs" and parent.name == "notebook" and path.suffix == ".txt":
        return TextgenFile(path, "prompt")
    if parent.parent.name == "logs" and parent.name == "instruct" and path.suffix == ".json":
        return TextgenFile(path, "instruct")
    if parent.parent.name == "chat" and parent.parent.parent.name == "logs" and path.suffix == ".json":
        return TextgenFile(path, "chat", parent.name)
    return None


def read_textgen(source: Source, where: TextgenFile | None) -> SessionBundle:
    """A prompt file (.txt) or a chat history (.json) as one session."""
    is_prompt = where.kind == "prompt" if where is not None else source.path.suffix.lower() == ".txt"
    if is_prompt:
        return read_prompt(source, where)
    return read_chat(source, where)


def read_prompt(source: Source, where: TextgenFile | None = None) -> SessionBundle:
    text = source.text.rstrip()  # what textgen's prompt menu puts into the page
    if not text.strip():
        raise NothingToImport(f"{source.name} is empty")
    if text.strip() == STARTER_TEXT:
        raise NothingToImport(f"{source.name} holds only textgen's starter text ({STARTER_TEXT!r})")
    name = source.path.stem
    created = source.mtime
    checkpoint = Checkpoint(id=new_checkpoint_id(created), created=created, mode="notebook", trigger="import",
                            input_text=text)
    link = HostLink(kind="textgen-prompt", name=name) if where is not None else None
    return session_bundle(name, [checkpoint], origin=where.origin if where else source.origin, mode="notebook",
                          link=link, created=min(created, parse_time(name) or created))


def read_chat(source: Source, where: TextgenFile | None = None) -> SessionBundle:
    history = chat_history(source.json, source.name)
    try:
        messages = messages_from_history(history)
    except ValueError as exc:
        raise ImportFailed(f"{source.name} is not a textgen chat history: {exc}") from exc
    if not messages:
        raise NothingToImport(f"{source.name} is an empty chat")
    rows = history["internal"]
    if len(rows) == 1 and rows[0][0] == GREETING_MARK:
        raise NothingToImport(f"{source.name} holds only the character's greeting")
    unique_id = source.path.stem
    chat_mode: ChatMode = "instruct" if where is not None and where.kind == "instruct" else "chat"
    character = where.character if where is not None else None
    saved = source.mtime
    started = parse_time(unique_id) or _first_message_time(history) or saved
    checkpoint = Checkpoint(id=new_checkpoint_id(saved), created=saved, mode="chat", trigger="import",
                            history=history, chat=ChatContext(unique_id=unique_id, chat_mode=chat_mode,
                                                              character=character))
    first_user = next((m.content for m in messages if m.role == "user"), "")
    name = session_name(first_user, unique_id) if _DATED_ID.match(unique_id) else unique_id
    link = (HostLink(kind="textgen-chat", name=unique_id, character=character, chat_mode=chat_mode)
            if where is not None else None)
    return session_bundle(name, [checkpoint], origin=where.origin if where else source.origin, mode="chat",
                          link=link, created=min(started, saved))


def looks_like_textgen_chat(data: Any) -> bool:
    keys = data.keys() if isinstance(data, dict) else set()
    return {"internal", "visible"} <= keys or {"data", "data_visible"} <= keys


def chat_history(data: Any, name: str) -> dict[str, Any]:
    """The history as textgen loads it (modules/chat.py load_history): old files renamed, metadata added."""
    require(looks_like_textgen_chat(data), f"{name} is not a textgen chat history (no 'internal' and 'visible')")
    history = dict(data) if "internal" in data else {"internal": data["data"], "visible": data["data_visible"]}
    require(isinstance(history["internal"], list) and isinstance(history["visible"], list),
            f"{name} is not a textgen chat history ('internal' and 'visible' must be lists)")
    if not isinstance(history.get("metadata"), dict):
        history["metadata"] = {}
    return history


def _first_message_time(history: dict[str, Any]) -> datetime | None:
    times = [parse_time(entry.get("timestamp")) for entry in history["metadata"].values() if isinstance(entry, dict)]
    known = [t for t in times if t is not None]
    return min(known) if known else None


def _files(folder: Path, suffix: str) -> list[Path]:
    return [path for path in _entries(folder, directories=False) if path.suffix == suffix]


def _entries(folder: Path, directories: bool) -> list[Path]:
    """Regular files or real folders, by name; links are not followed out, FIFOs would block a read."""
    try:
        with os.scandir(folder) as entries:
            return sorted((Path(e.path) for e in entries
                           if (e.is_dir(follow_symlinks=False) if directories else e.is_file(follow_symlinks=False))),
                          key=lambda p: p.name)
    except OSError:
        return []
