"""Training data out of sessions: chat messages, ShareGPT and prompt/completion JSONL.

One line per chosen checkpoint:

- ``messages``: ``{"messages": [{"role": "system"|"user"|"assistant", "content": ...}]}``
- ``sharegpt``: ``{"conversations": [{"from": "system"|"human"|"gpt", "value": ...}]}``
- ``completion``: ``{"prompt": ..., "completion": ...}`` (Default and Notebook checkpoints only)

A chat checkpoint is its conversation (its system text first: the instruct system message or the
character's context); a Default checkpoint is its prompt and the continuation; a Notebook one is its
whole text as the reply to an empty prompt. Samples with no reply and repeats of an earlier sample
are left out. With ``metadata`` each line also carries where it came from, its parameters and model,
which is what lets such a file be imported back as the same sessions (see training_in.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..choices import Choice, TrainingFormat
from ..models import Checkpoint, SessionMarks, SessionMeta
from ..store import SessionStore
from .common import replacing
from .messages import Message, conversation
from .report import Progress, no_progress
from .selection import choose_checkpoints, session_marks, shown_label

SHAREGPT_FROM = {"system": "system", "user": "human", "assistant": "gpt"}


@dataclass
class TrainingExport:
    """What a training export wrote and what it left out."""

    path: Path
    samples: int = 0
    empty: int = 0  # no reply to learn from
    duplicates: int = 0  # the same sample as an earlier line
    not_applicable: int = 0  # chat checkpoints in the prompt/completion form

    def counts(self) -> dict[str, object]:
        """What was written and left out, for --json (the same numbers the summary prints)."""
        return {"samples": self.samples, "left_out": {"empty": self.empty, "duplicates": self.duplicates,
                                                      "chat_without_completion_form": self.not_applicable}}

    def summary(self) -> str:
        left_out = [f"{n} {what}" for n, what in ((self.empty, "empty"), (self.duplicates, "duplicate"),
                                                   (self.not_applicable, "chat (no prompt/completion form)")) if n]
        text = f"Wrote {self.samples} sample(s) to {self.path}"
        return text + (f"; left out {', '.join(left_out)}." if left_out else ".")

LATEST_CHECKPOINT: tuple[Choice, ...] = ("latest",)


def export_training(store: SessionStore, session_ids: Sequence[str], dest: Path, fmt: TrainingFormat,
                    choose: Collection[Choice] = LATEST_CHECKPOINT, metadata: bool = False,
                    progress: Progress | None = None) -> TrainingExport:
    """Write one JSONL file of samples from the chosen checkpoints of ``session_ids`` (in that order)."""
    progress = progress or no_progress
    result = TrainingExport(path=Path(dest))
    seen: set[bytes] = set()

    def lines() -> Any:
        for done, session_id in enumerate(session_ids):
            meta = store.get_session(session_id)
            progress(done, len(session_ids), meta.name)
            marks = session_marks(store, session_id)
            for checkpoint in choose_checkpoints(store, session_id, choose):
                line = _line(checkpoint, fmt, meta, marks, metadata, result, seen)
                if line is not None:
                    yield line
        progress(len(session_ids), len(session_ids), "")

    with replacing(result.path) as tmp, open(tmp, "wb") as out:
        out.writelines(lines())
    return result


def sample(checkpoint: Checkpoint, fmt: TrainingFormat) -> dict[str, Any] | None:
    """The sample of one checkpoint in ``fmt``, or None when the form does not apply (chat as completion)."""
    if fmt == "completion":
        if checkpoint.mode == "chat":
            return None
        prompt, reply = prompt_and_reply(checkpoint)
        return {"prompt": prompt, "completion": reply}
    messages = chat_messages(checkpoint)
    if fmt == "messages":
        doc: dict[str, Any] = {"messages": [_openai_turn(m) for m in messages]}
    else:
        doc = {"conversations": [_sharegpt_turn(m) for m in messages]}
    for key, value in (checkpoint.sample or {}).items():  # images, tools, ... as the sample had them
        doc.setdefault(key, value)
    return doc


def _openai_turn(message: Message) -> dict[str, Any]:
    """A turn in the chat-messages form: as it was read when it came from such a file (tool calls, parts)."""
    turn = message.turn
    if turn is not None and "role" in turn:
        return turn
    if turn is not None and "from" in turn:  # read from ShareGPT: its tool turns under OpenAI's names
        role = {"function_call": "assistant", "observation": "tool"}.get(turn["from"], message.role)
        return {"role": role, "content": message.content}
    return {"role": "system" if message.narrator else message.role, "content": message.content}


def _sharegpt_turn(message: Message) -> dict[str, Any]:
    turn = message.turn
    if turn is not None and "from" in turn:
        return turn
    if turn is not None and turn.get("role") == "tool":
        return {"from": "observation", "value": message.content}
    if turn is not None and turn.get("tool_calls"):
        return {"from": "function_call", "value": message.content}
    return {"from": SHAREGPT_FROM["system" if message.narrator else message.role], "value": message.content}


def chat_messages(checkpoint: Checkpoint) -> list[Message]:
    if checkpoint.mode == "chat":
        return conversation(checkpoint)
    prompt, reply = prompt_and_reply(checkpoint)
    return [m for m in (Message("user", prompt), Message("assistant", reply)) if m.content]


def prompt_and_reply(checkpoint: Checkpoint) -> tuple[str, str]:
    """Default: the prompt and the continuation (the output holds both). Notebook: the whole text as the reply."""
    if checkpoint.mode == "notebook":
        return "", checkpoint.text
    prompt, output = checkpoint.input_text, checkpoint.output_text
    if not output:
        return prompt, ""
    return (prompt, output[len(prompt):]) if output.startswith(prompt) else ("", output)


def sample_metadata(checkpoint: Checkpoint, meta: SessionMeta, marks: SessionMarks) -> dict[str, Any]:
    return {"session": meta.name, "session_id": meta.id, "session_created": meta.created.isoformat(),
            "checkpoint": checkpoint.id,
            "created": checkpoint.created.isoformat(), "trigger": checkpoint.trigger,
            "label": shown_label(checkpoint, marks), "mode": checkpoint.mode,
            "chat": checkpoint.chat.model_dump(mode="json") if checkpoint.chat else None,
            "params": checkpoint.params, "model": checkpoint.model.model_dump(mode="json"), "seed": checkpoint.seed}


def _line(checkpoint: Checkpoint, fmt: TrainingFormat, meta: SessionMeta, marks: SessionMarks, metadata: bool,
          result: TrainingExport, seen: set[bytes]) -> bytes | None:
    doc = sample(checkpoint, fmt)
    if doc is None:
        result.not_applicable += 1
        return None
    if not _has_reply(doc):
        result.empty += 1
        return None
    key = hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).digest()
    if key in seen:
        result.duplicates += 1
        return None
    seen.add(key)
    if metadata:
        doc["metadata"] = sample_metadata(checkpoint, meta, marks)
    result.samples += 1
    return (json.dumps(doc, ensure_ascii=False) + "\n").encode("utf-8")


def _has_reply(doc: dict[str, Any]) -> bool:
    if "completion" in doc:
        return bool(doc["completion"].strip())
    if "messages" in doc:
        return any(turn.get("role") == "assistant" and (turn.get("tool_calls") or _words(turn.get("content")))
                   for turn in doc["messages"])
    return any(turn.get("from") in ("gpt", "function_call") and _words(turn.get("value"))
               for turn in doc["conversations"])


def _words(content: Any) -> bool:
    if isinstance(content, list):  # content parts
        return any(isinstance(part, dict) and part.get("type") != "text" or str(part.get("text", "")).strip()
                   for part in content if isinstance(part, dict))
    return isinstance(content, str) and bool(content.strip())
