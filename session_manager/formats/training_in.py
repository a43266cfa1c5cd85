"""Training files back into sessions: the three forms training.py writes, and such datasets from elsewhere.

A line with the ``metadata`` training.py adds goes back into its session (lines of one session id
become one session, each line a checkpoint with its time, trigger, label, parameters and model).
A line without it becomes a session of its own: a chat (instruct mode), or for prompt/completion a
Default checkpoint. A JSON array of such objects is read like the lines of a JSONL file.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..choices import TrainingFormat
from ..errors import ImportFailed
from ..models import ChatMode, Checkpoint, is_checkpoint_id, new_checkpoint_id
from ..store.bundle import SessionBundle
from .bundle_builder import session_bundle
from .common import Source, parse_time, require, session_name
from .messages import Message, history_from_messages, messages_from_history, system_param

_FROM_ROLE = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
              "bot": "assistant", "model": "assistant"}


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


def read_training(source: Source, from_array: bool = False) -> list[tuple[str, SessionBundle]]:
    """Every session in a training file; one line that is not a sample fails the whole file."""
    rows = list(enumerate(source.json, start=1)) if from_array else source.jsonl
    fmt = training_format_of(rows[0][1])
    require(fmt is not None, f"{source.name} is not a training file (no messages, conversations or "
                             "prompt/completion on its first line)")
    groups: dict[str, list[Checkpoint]] = {}
    names: dict[str, str] = {}
    for number, row in rows:
        where = f"{source.name} {'item' if from_array else 'line'} {number}"
        require(training_format_of(row) == fmt, f"{where} is not a {fmt} sample like the first one")
        meta = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
        key = meta["session_id"] if isinstance(meta.get("session_id"), str) else f"#{number}"
        checkpoint = _checkpoint(row, fmt, meta, source, where)
        groups.setdefault(key, []).append(checkpoint)
        fallback = session_name(_first_words(checkpoint), "Imported sample")
        names.setdefault(key, str(meta.get("session") or "") or fallback)
    return [(f"{source.name} {names[key]!r}",
             session_bundle(names[key], checkpoints, origin=f"{source.origin}:{key}", mode=checkpoints[-1].mode))
            for key, checkpoints in groups.items()]


def _checkpoint(row: dict[str, Any], fmt: TrainingFormat, meta: dict[str, Any], source: Source,
                where: str) -> Checkpoint:
    created = parse_time(meta.get("created")) or source.mtime
    mode = meta.get("mode") if meta.get("mode") in ("default", "notebook", "chat") else (
        "default" if fmt == "completion" else "chat")
    fields: dict[str, Any] = {
        "id": meta["checkpoint"] if is_checkpoint_id(meta.get("checkpoint")) else new_checkpoint_id(created),
        "created": created, "mode": mode, "trigger": meta.get("trigger") or "import", "label": meta.get("label") or "",
        "params": meta.get("params") or {}, "model": meta.get("model") or {}, "seed": meta.get("seed"),
    }
    messages = _messages(row, fmt, where)
    prompt = next((m.content for m in messages if m.role == "user"), "")
    reply = "".join(m.content for m in messages if m.role == "assistant")
    if mode == "chat":
        chat = meta.get("chat") if isinstance(meta.get("chat"), dict) else {"chat_mode": "instruct"}
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
        raise ImportFailed(f"{where} has a bad {'.'.join(map(str, first['loc']))}: {first['msg']}") from exc


def _messages(row: dict[str, Any], fmt: TrainingFormat, where: str) -> list[Message]:
    if fmt == "completion":
        return [Message("user", row["prompt"]), Message("assistant", row["completion"])]
    turns = row["messages"] if fmt == "messages" else row["conversations"]
    messages = []
    for turn in turns:
        require(isinstance(turn, dict), f"{where} has a turn that is not an object")
        role = turn.get("role") if fmt == "messages" else _FROM_ROLE.get(str(turn.get("from")))
        content = turn.get("content") if fmt == "messages" else turn.get("value")
        require(role in ("system", "user", "assistant") and isinstance(content, str),
                f"{where} has a turn that is not a system, user or assistant text")
        messages.append(Message(role, content))
    return messages


def _system_into_params(fields: dict[str, Any], messages: list[Message], chat_mode: ChatMode) -> None:
    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
    key = system_param(chat_mode)
    if system and key not in fields["params"]:  # the parameters a line carries win: they hold the unfilled text
        fields["params"] = {**fields["params"], key: system}


def _first_words(checkpoint: Checkpoint) -> str:
    if checkpoint.history:
        return next((m.content for m in messages_from_history(checkpoint.history) if m.role == "user"), "")
    return checkpoint.text
