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

    def summary(self) -> str:
        left_out = [f"{n} {what}" for n, what in ((self.empty, "empty"), (self.duplicates, "duplicate"),
                                                   (self.not_applicable, "chat (no prompt/completion form)")) if n]
        text = f"Wrote {self.samples} sample(s) to {self.path}"
        return text + (f"; left out {', '.join(left_out)}." if left_out else ".")


def export_training(store: SessionStore, session_ids: Sequence[str], dest: Path, fmt: TrainingFormat,
                    choose: Collection[Choice] = ("latest",), metadata: bool = False,
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
        return {"messages": [{"role": m.role, "content": m.content} for m in messages]}
    return {"conversations": [{"from": SHAREGPT_FROM[m.role], "value": m.content} for m in messages]}


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
    return {"session": meta.name, "session_id": meta.id, "checkpoint": checkpoint.id,
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
        return any(turn["role"] == "assistant" and turn["content"].strip() for turn in doc["messages"])
    return any(turn["from"] == "gpt" and turn["value"].strip() for turn in doc["conversations"])
