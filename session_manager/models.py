"""Pydantic models of everything Session Manager writes to disk (format_version 1).

Readers and writers go through these models only, so this file is the one
description of the on-disk format. Ids are generated here and validated on
every read: a name typed by a user is a label, never part of a path.
"""

from __future__ import annotations

import math
import re
import secrets
import threading
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from .limits import MAX_NAME_LENGTH, MAX_NOTES_CHARS, MAX_ORIGIN_CHARS, MAX_TAG_CHARS, MAX_TAGS
from .migrations import FORMAT_VERSION, upgrade

Mode = Literal["default", "notebook", "chat"]
# What made a checkpoint. "stop": a generation ended (by itself or by Stop). The chat ones name
# the textgen action that ended the reply; "rewind" is the state a rewind left behind.
Trigger = Literal["manual", "stop", "autosave", "auto-session", "branch", "import",
                  "regenerate", "continue", "swipe", "rewind"]
ChatMode = Literal["chat", "chat-instruct", "instruct"]

SESSION_ID_RE = re.compile(r"^\d{8}T\d{6}Z-[0-9a-z]{6}$")
CHECKPOINT_ID_RE = re.compile(r"^\d{8}T\d{9}Z-[0-9a-z]{6}$")
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
# Every time on disk lies in this range: it can be compared, sorted and shown in any time zone.
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(3000, 1, 1, tzinfo=timezone.utc)
# Counts and sizes: far above anything real, far below what overflows an index or a formatter.
MAX_COUNT = 1 << 53
_SURROGATE = re.compile("[\ud800-\udfff]")


def _sane_time(value: datetime) -> datetime:
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"{value.isoformat()} is outside {EARLIEST:%Y}-{LATEST:%Y}")
    return value


def _valid_unicode(value: str) -> str:
    # A lone surrogate cannot be written as UTF-8: refuse it here, with its place, not deep in a writer.
    if not value.isascii():
        found = _SURROGATE.search(value)
        if found:
            raise ValueError(f"a lone surrogate U+{ord(found.group()):04X} at character {found.start()} "
                             "(text must be valid Unicode)")
    return value


def _valid_unicode_input(value: object) -> object:
    return _valid_unicode(value) if isinstance(value, str) else value


def _finite(value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise ValueError("must be a finite number of seconds, not negative")
    return value


# A time zone is required: times without one cannot be compared with the store's own.
Timestamp = Annotated[AwareDatetime, AfterValidator(_sane_time)]
Text = Annotated[str, AfterValidator(_valid_unicode)]
# Words of a session with their limits (limits.py): "String should have at most N characters".
# Checked before the length: the length check itself refuses a lone surrogate, with a message nobody can act on.
Name = Annotated[str, BeforeValidator(_valid_unicode_input), Field(max_length=MAX_NAME_LENGTH)]
Notes = Annotated[str, BeforeValidator(_valid_unicode_input), Field(max_length=MAX_NOTES_CHARS)]
Tag = Annotated[str, BeforeValidator(_valid_unicode_input), Field(max_length=MAX_TAG_CHARS)]
Origin = Annotated[str, Field(max_length=MAX_ORIGIN_CHARS), AfterValidator(_valid_unicode)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _suffix() -> str:
    # One read of the OS's randomness per id (six secrets.choice calls were a tenth of a large import's time);
    # 48 random bits for 36**6 values leave no bias worth the name.
    value = int.from_bytes(secrets.token_bytes(6), "big")
    letters = []
    for _ in range(6):
        value, index = divmod(value, len(_ALPHABET))
        letters.append(_ALPHABET[index])
    return "".join(letters)


def new_session_id(now: datetime | None = None) -> str:
    """Sortable UTC stamp (seconds) + random suffix: unique without a lock."""
    now = now or utcnow()
    return f"{now.strftime('%Y%m%dT%H%M%S')}Z-{_suffix()}"


def new_checkpoint_id(now: datetime | None = None) -> str:
    """Sortable UTC stamp with milliseconds + suffix. Ids made here without ``now`` sort in the order they
    were made, even within one millisecond (undo steps through them in that order)."""
    if now is None:
        with _last_stamp_lock:
            now = max(utcnow(), _last_stamp[0] + timedelta(milliseconds=1))
            _last_stamp[0] = now
    return f"{now.strftime('%Y%m%dT%H%M%S')}{now.microsecond // 1000:03d}Z-{_suffix()}"


_last_stamp = [datetime.min.replace(tzinfo=timezone.utc)]
_last_stamp_lock = threading.Lock()


def is_session_id(value: str) -> bool:
    return isinstance(value, str) and bool(SESSION_ID_RE.match(value))


def is_checkpoint_id(value: object) -> bool:
    return isinstance(value, str) and bool(CHECKPOINT_ID_RE.match(value))


class _Strict(BaseModel):
    # Unknown keys are kept (a newer writer may add fields), types are checked.
    model_config = ConfigDict(extra="allow", defer_build=True)


class _Versioned(_Strict):
    """A file with ``format_version``: older ones are upgraded before validation, newer ones refused."""

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        return upgrade(cls.__name__, data)


class ParentRef(_Strict):
    session: str
    checkpoint: str | None = None


class HostLink(_Strict):
    """What a session follows in the host: a textgen prompt file (Default/Notebook) or a textgen chat."""

    kind: Literal["textgen-prompt", "textgen-chat"]
    name: Text  # the prompt's name, or the chat's unique_id
    character: Text | None = None  # chat: the character (or None in instruct mode)
    chat_mode: ChatMode | None = None


class SessionMeta(_Versioned):
    """sessions/<id>/session.json"""

    format_version: int = FORMAT_VERSION
    id: str
    name: Name
    created: Timestamp
    updated: Timestamp
    mode: Mode = "default"
    parent: ParentRef | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    notes: Notes = ""
    pinned: bool = False
    link: HostLink | None = None
    # Where an imported session came from ("textgen-chat:<character>/<id>", a file's sha256, ...):
    # importing the same thing twice finds it here instead of making a copy.
    origin: Origin | None = None

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not is_session_id(value):
            raise ValueError(f"not a session id: {value!r}")
        return value


class ModelInfo(_Strict):
    """The model a checkpoint was made with, enough to load it again."""

    name: str | None = None
    loader: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)


class KVRef(_Strict):
    """A checkpoint's pointer to its KV-state blob in sessions/<id>/kv/."""

    file: str
    bytes: Count
    n_tokens: Count
    fingerprint: str
    backend: str

    @field_validator("file")
    @classmethod
    def _check_file(cls, value: str) -> str:
        stem = value.removesuffix(".kv")
        if not value.endswith(".kv") or not is_checkpoint_id(stem):
            raise ValueError(f"not a KV blob name: {value!r}")
        return value


class ChatContext(_Strict):
    """Who and how a chat checkpoint was talking: enough to put textgen's Chat tab back."""

    unique_id: str | None = None  # textgen's chat id (its history file name)
    chat_mode: ChatMode = "chat"
    character: str | None = None
    user_name: str | None = None
    instruction_template: str | None = None


class GenerationStats(_Strict):
    """How the generation that ended in a checkpoint went (for the stats)."""

    new_tokens: Count | None = None
    seconds: Annotated[float, AfterValidator(_finite)] | None = None


class Checkpoint(_Versioned):
    """sessions/<id>/checkpoints/<checkpoint-id>.json (immutable) and autosave.json."""

    format_version: int = FORMAT_VERSION
    id: str
    created: Timestamp
    mode: Mode = "default"
    trigger: Trigger = "manual"
    label: Text = ""
    input_text: Text = ""
    output_text: Text = ""
    history: dict[str, Any] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    model: ModelInfo = Field(default_factory=ModelInfo)
    seed: int | None = None
    kv: KVRef | None = None
    chat: ChatContext | None = None
    tokens: Count | None = None  # tokens of the text, when the engine counted them
    # A training sample's own fields beside its turns (LLaMA-Factory's "images", "tools", ...): kept as data
    # and written back into the sample when it is exported again.
    sample: dict[str, Any] | None = None
    generation: GenerationStats | None = None
    # autosave.json only: the page stepped back or forward (undo/redo) to this entry of the session's
    # history; the history itself gains no entry for a step.
    restores: str | None = None

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not is_checkpoint_id(value):
            raise ValueError(f"not a checkpoint id: {value!r}")
        return value

    @field_validator("restores")
    @classmethod
    def _check_restores(cls, value: str | None) -> str | None:
        if value is not None and not is_checkpoint_id(value):
            raise ValueError(f"not a checkpoint id: {value!r}")
        return value

    @property
    def text(self) -> str:
        """The page's whole text: in the Default view the output holds the prompt and its continuation."""
        return self.output_text or self.input_text

    def same_content(self, other: Checkpoint | None) -> bool:
        """True when the text, history, params and model are those of ``other``."""
        if other is None:
            return False
        keys = ("mode", "input_text", "output_text", "history", "params", "model")
        return all(getattr(self, k) == getattr(other, k) for k in keys)


class CheckpointMark(_Strict):
    """What a user may change about a checkpoint after it was written (the checkpoint stays immutable)."""

    pinned: bool = False
    note: Text = ""
    label: Text | None = None  # replaces the checkpoint's own label when set


class SessionMarks(_Versioned):
    """sessions/<id>/marks.json: pins, notes and renamed labels of the session's checkpoints."""

    format_version: int = FORMAT_VERSION
    marks: dict[str, CheckpointMark] = Field(default_factory=dict)


class ModelFingerprint(_Strict):
    """What must match for a KV state to be valid in a running engine."""

    file_name: str
    file_size: int
    sample_hash: str
    n_ctx: int
    kv_type: str = "f16"
    flash_attn: str = "auto"
    swa_full: bool = False
    state_format: str = ""

    def digest(self) -> str:
        import hashlib

        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


class KVBlobMeta(_Strict):
    """JSON header of a .kv blob; the raw engine state bytes follow it."""

    blob_version: int = 1
    backend: Literal["llama-server", "llama-cpp-python"]
    fingerprint: ModelFingerprint
    token_ids: list[int]
    state_bytes: int
    state_sha256: str
    compression: Literal["none", "zstd"] = "none"
    stored_bytes: int


class UserSettingsFile(_Versioned):
    """<root>/settings.json: what the user changed in the UI (shipped defaults are separate)."""

    format_version: int = FORMAT_VERSION
    values: dict[str, Any] = Field(default_factory=dict)
    last_session: str | None = None
