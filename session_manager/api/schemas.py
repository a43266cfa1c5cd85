"""The request bodies the API accepts (their fields are the OpenAPI docs) and the JSON it answers with."""

from __future__ import annotations

import dataclasses
import unicodedata
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..choices import Choice, TrainingFormat
from ..models import ChatContext, Checkpoint, CheckpointMark, Mode, ModelInfo, Text, new_checkpoint_id, utcnow
from ..recording.recorder import RestoreResult
from ..store.summaries import CheckpointSummary

SessionFormat = Literal["zip", "json", "jsonl", "markdown", "html"]
ManyFormat = Literal["zip", "messages", "sharegpt", "completion"]
MAX_TAGS = 100


class _Body(BaseModel):
    # A misspelt field is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid")


class NewSession(_Body):
    name: str = Field(max_length=10_000, description="A label (never part of a path); cut to 120 characters.")
    mode: Mode = "default"
    tags: list[Text] = Field(default_factory=list, max_length=MAX_TAGS)
    notes: Text = ""


class SessionChange(_Body):
    """Only the fields given change."""

    name: str | None = Field(default=None, max_length=10_000)
    tags: list[Text] | None = Field(default=None, max_length=MAX_TAGS)
    notes: Text | None = None
    pinned: bool | None = None


class NewCheckpoint(_Body):
    """A text (``default``/``notebook``: input and output text) or a chat (``history`` as textgen keeps it:
    ``{"internal": [[user, reply], ...], "visible": [...]}``), with its parameters and model."""

    mode: Mode = "default"
    input_text: Text = ""
    output_text: Text = ""
    history: dict[str, Any] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    model: ModelInfo = Field(default_factory=ModelInfo)
    label: Text = Field(default="", max_length=200)
    seed: int | None = None
    chat: ChatContext | None = None
    kv_snapshot: bool = Field(default=False, description="Keep the engine's KV cache with it (textgen only), so "
                              "that a restore later needs no re-reading: send it right after the request that "
                              "wrote this text, while the engine still holds it.")

    @model_validator(mode="after")
    def _chat_has_history(self) -> NewCheckpoint:
        # textgen builds its chat file's path from these: a folder in one would write outside its logs.
        chat = self.chat
        named = {"chat.unique_id": chat.unique_id, "chat.character": chat.character,
                 "chat.instruction_template": chat.instruction_template} if chat else {}
        for field, value in named.items():
            if value is not None and not is_plain_name(value):
                raise ValueError(f"{field} {value!r} must be a plain name, without a folder")
        if self.mode == "chat" and not isinstance((self.history or {}).get("internal"), list):
            raise ValueError('a chat checkpoint needs "history" with an "internal" list of [user, reply] pairs')
        if self.mode != "chat" and self.history is not None:
            raise ValueError('"history" belongs to a chat checkpoint: set "mode": "chat"')
        return self

    def to_checkpoint(self) -> Checkpoint:
        fields = self.model_dump(exclude_none=True, exclude={"kv_snapshot"})
        return Checkpoint.model_validate({**fields, "id": new_checkpoint_id(), "created": utcnow(),
                                          "trigger": "manual"})


class CheckpointChange(_Body):
    label: str | None = Field(default=None, max_length=10_000, description='"" gives back its own label.')
    note: Text | None = None
    pinned: bool | None = None


class RestoreRequest(_Body):
    load_model: bool = Field(default=False, description="Load the checkpoint's model first when another one runs.")


class ExportRequest(_Body):
    """Sessions by id, by tag, by search, or all of them, into one file."""

    sessions: list[str] = Field(default_factory=list, max_length=100_000)
    tag: str | None = None
    search: str | None = None
    all: bool = False
    format: ManyFormat = "zip"
    no_kv: bool = Field(default=False, description="zip: leave the KV snapshots out.")
    checkpoints: list[Choice] = Field(default_factory=list, description="Training: which checkpoints "
                                      "(default latest).")
    metadata: bool = Field(default=False, description="Training: add each sample's session, parameters and model.")


def is_plain_name(name: str) -> bool:
    """A name that is one file or folder name: no separator, no drive, not ``.`` or ``..``, no control
    character."""
    return bool(name.strip()) and name not in (".", "..") and not any(sep in name for sep in "/\\:") and not any(
        unicodedata.category(ch).startswith("C") for ch in name)


def training_format(fmt: ManyFormat) -> TrainingFormat | None:
    return None if fmt == "zip" else fmt


def checkpoint_row(row: CheckpointSummary) -> dict[str, Any]:
    data = dataclasses.asdict(row)
    data["created"] = row.created.isoformat()
    return data


def checkpoint_document(checkpoint: Checkpoint, mark: CheckpointMark | None, kv_present: bool,
                        kv_note: str | None = None) -> dict[str, Any]:
    data = checkpoint.model_dump(mode="json")
    data["mark"] = (mark or CheckpointMark()).model_dump(mode="json")
    data["kv_present"] = kv_present
    if kv_note is not None:
        data["kv_note"] = kv_note
    return data


def restored(session_id: str, result: RestoreResult) -> dict[str, Any]:
    """What a client needs to go on from a restore: the text or chat, and the parameters to send with its
    next request (textgen's API takes them per request)."""
    cp = result.checkpoint
    return {"session_id": session_id, "checkpoint_id": cp.id, "mode": cp.mode, "input_text": cp.input_text,
            "output_text": cp.output_text, "history": cp.history, "params": cp.params,
            "model": cp.model.model_dump(mode="json"), "model_loaded": result.model_loaded,
            "kv_restored": result.kv_restored, "messages": result.messages}
