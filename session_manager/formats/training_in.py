"""Training files back into sessions: the three forms training.py writes, and such datasets from elsewhere.

A line with the ``metadata`` training.py adds goes back into its session (lines of one session id
become one session, each line a checkpoint with its time, trigger, label, parameters and model).
A line without it becomes a session of its own: a chat (instruct mode), or for prompt/completion a
Default checkpoint. A JSON array of such objects is read like the lines of a JSONL file.

Tool turns (OpenAI ``tool`` messages and ``tool_calls``, ShareGPT ``function_call`` and
``observation``), content-part lists (text and images) and per-message ``weight`` are carried as
data on their message (``Message.turn``); a sample's other fields (LLaMA-Factory's ``images``,
``tools``, ``system``) on its checkpoint (``Checkpoint.sample``). Both are written back in the same
shape on export. Samples with no turns are skipped and counted; samples keep the file's order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from ..choices import TrainingFormat
from ..errors import ImportFailed, NothingToImport
from ..models import ChatMode, Checkpoint, is_checkpoint_id, new_checkpoint_id
from ..store.bundle import SessionBundle
from .bundle_builder import session_bundle
from .common import Source, parse_time, require, session_name
from .messages import Message, Role, history_from_messages, messages_from_history, system_param

_FROM_ROLE: dict[str, Role] = {
    "system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
    "bot": "assistant", "model": "assistant",
    # tool use: the call is the model's turn, the tool's answer comes back as input
    "function_call": "assistant", "observation": "user", "tool": "user"}
_ROLES: dict[str, Role] = {"system": "system", "user": "user", "assistant": "assistant", "tool": "user",
                           "function": "user", "developer": "system"}
_TURN_KEYS = {"messages": {"role", "content"}, "sharegpt": {"from", "value"}}
_SAMPLE_KEYS = {"messages", "conversations", "prompt", "completion", "metadata"}
MAX_TURN_FIELD_CHARS = 1_000_000  # characters of a turn's fields kept as data (tool arguments, image URLs)


def training_format_of(row: Any) -> TrainingFormat | None:
    if not isinstance(row, dict):
        return None
    if isinstance(row.get("messages"), list):
        return "messages"
    if isinstance(row.get("conversations"), list):
        return "sharegpt"
    if isinstance(row.get("prompt"), str) and isinstance(row.get("completion"), str):
        return "completion"
    return None


def looks_like_training(data: Any) -> bool:
    """A JSON array of training samples (a JSONL file is told by its first line)."""
    return isinstance(data, list) and bool(data) and training_format_of(data[0]) is not None


def read_training(source: Source, from_array: bool = False) -> Iterator[tuple[str, SessionBundle | ImportFailed]]:
    """Every session in a training file, as the lines are read; a line that is not a sample raises ImportFailed.

    Lines of one session (the same ``metadata.session_id``, as training.py writes them: one after the
    other) become one session. Samples without turns give no session: one "skipped" item counts them.
    """
    rows = enumerate(source.json, start=1) if from_array else source.rows()
    fmt: TrainingFormat | None = None
    group: list[Checkpoint] = []
    key = name = ""
    created: datetime | None = None
    empty: list[int] = []
    start = source.mtime
    for number, row in rows:
        where = f"{source.name} {'item' if from_array else 'line'} {number}"
        fmt = fmt or training_format_of(row)
        if fmt is None:
            raise ImportFailed(f"{source.name} is not a training file (no messages, conversations or "
                               "prompt/completion on its first line)")
        require(training_format_of(row) == fmt, f"{where} is not a {fmt} sample like the first one")
        if _is_empty(row, fmt):
            empty.append(number)
            continue
        meta = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
        row_key = meta["session_id"][:100] if isinstance(meta.get("session_id"), str) else f"#{number}"
        # Samples without times keep the file's order: each one a millisecond after the one before.
        checkpoint = _checkpoint(row, fmt, meta, start + timedelta(milliseconds=number), where)
        if row_key != key and group:
            yield _session(source, key, name, group, created)
            group = []
        if not group:
            key, created = row_key, parse_time(meta.get("session_created"))
            name = session_name(str(meta.get("session") or ""), "") or session_name(_first_words(checkpoint),
                                                                                     "Imported sample")
        group.append(checkpoint)
    if group:
        yield _session(source, key, name, group, created)
    if empty:
        lines = ", ".join(map(str, empty[:5])) + (", ..." if len(empty) > 5 else "")
        yield source.name, NothingToImport(f"{source.name}: {len(empty)} sample(s) without any turn were skipped "
                                           f"({'item' if from_array else 'line'} {lines})")


def _session(source: Source, key: str, name: str, checkpoints: list[Checkpoint],
             created: datetime | None) -> tuple[str, SessionBundle]:
    """One session; it starts when the line's metadata says (else at its first checkpoint)."""
    return f"{source.name} {name!r}", session_bundle(name, checkpoints, origin=f"{source.origin}:{key}",
                                                     mode=checkpoints[-1].mode, created=created)


def _is_empty(row: dict[str, Any], fmt: TrainingFormat) -> bool:
    if fmt == "completion":
        return not (row["prompt"].strip() or row["completion"].strip())
    return not row["messages" if fmt == "messages" else "conversations"]


def _checkpoint(row: dict[str, Any], fmt: TrainingFormat, meta: dict[str, Any], fallback: datetime,
                where: str) -> Checkpoint:
    created = parse_time(meta.get("created")) or fallback
    mode = meta.get("mode") if meta.get("mode") in ("default", "notebook", "chat") else (
        "default" if fmt == "completion" else "chat")
    for key, kind in (("params", dict), ("model", dict), ("chat", dict), ("label", str), ("trigger", str)):
        require(meta.get(key) is None or isinstance(meta[key], kind),
                f"{where}: metadata.{key} must be {'an object' if kind is dict else 'text'}")
    extra = {key: value for key, value in row.items() if key not in _SAMPLE_KEYS}
    fields: dict[str, Any] = {
        "id": meta["checkpoint"] if is_checkpoint_id(meta.get("checkpoint")) else new_checkpoint_id(created),
        "created": created, "mode": mode, "trigger": meta.get("trigger") or "import", "label": meta.get("label") or "",
        "params": meta.get("params") or {}, "model": meta.get("model") or {}, "seed": meta.get("seed"),
        "sample": extra or None,
    }
    messages = _messages(row, fmt, where)
    prompt = next((m.content for m in messages if m.role == "user"), "")
    reply = "".join(m.content for m in messages if m.role == "assistant")
    if mode == "chat":
        given = meta.get("chat")
        chat: dict[str, Any] = given if isinstance(given, dict) else {"chat_mode": "instruct"}
        fields.update(history=history_from_messages(messages), chat=chat)
        _system_into_params(fields, messages, chat.get("chat_mode", "chat"))
    elif mode == "default":
        fields.update(input_text=prompt, output_text=prompt + reply)
    else:
        fields.update(input_text=prompt + reply)
    try:
        return Checkpoint.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ImportFailed(f"{where}: metadata.{'.'.join(map(str, first['loc']))} cannot be used "
                           f"({first['msg']})") from exc


def _messages(row: dict[str, Any], fmt: TrainingFormat, where: str) -> list[Message]:
    if fmt == "completion":
        return [Message("user", row["prompt"]), Message("assistant", row["completion"])]
    turns = row["messages"] if fmt == "messages" else row["conversations"]
    return [_turn(turn, fmt, f"{where} turn {number}") for number, turn in enumerate(turns, start=1)]


def _turn(turn: Any, fmt: TrainingFormat, where: str) -> Message:
    require(isinstance(turn, dict), f"{where} is not an object")
    role_key, text_key = ("role", "content") if fmt == "messages" else ("from", "value")
    raw_role = turn.get(role_key)
    role = (_ROLES if fmt == "messages" else _FROM_ROLE).get(raw_role) if isinstance(raw_role, str) else None
    if role is None:
        raise ImportFailed(f"{where}: its {role_key!r} is {_shown(raw_role)}, not one of "
                           f"{', '.join(sorted(_ROLES if fmt == 'messages' else _FROM_ROLE))}")
    content = turn.get(text_key)
    text = _text_of(content)
    if text is None:
        raise ImportFailed(f"{where} ({raw_role}): its {text_key!r} is {_shown(content)}, not text or a list of "
                           "content parts")
    extra = set(turn) - _TURN_KEYS[fmt]
    plain = isinstance(content, str) and not extra and raw_role in ("system", "user", "assistant", "human", "gpt")
    if plain:
        return Message(role, text)
    require(len(json.dumps(turn, ensure_ascii=False)) <= MAX_TURN_FIELD_CHARS,
            f"{where} ({raw_role}) is larger than {MAX_TURN_FIELD_CHARS:,} characters")
    calls = turn.get("tool_calls") or turn.get("function_call")
    shown = text or (json.dumps(calls, ensure_ascii=False) if calls else f"({raw_role})")
    return Message(role, shown, turn=turn)


def _text_of(content: Any) -> str | None:
    """A turn's text: a string, the text parts of a content list, or "" for none (a tool call's null)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(part, dict) for part in content):
        return "\n".join(part["text"] for part in content if isinstance(part.get("text"), str))
    return None


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str) if value is not None else "missing"
    return text if len(text) <= 40 else text[:39] + "…"


def _system_into_params(fields: dict[str, Any], messages: list[Message], chat_mode: ChatMode | str) -> None:
    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
    key = system_param(chat_mode)
    if system and key not in fields["params"]:  # the parameters a line carries win: they hold the unfilled text
        fields["params"] = {**fields["params"], key: system}


def _first_words(checkpoint: Checkpoint) -> str:
    if checkpoint.history:
        return next((m.content for m in messages_from_history(checkpoint.history) if m.role == "user"), "")
    return checkpoint.text
