"""Reading and writing the store's JSON files, and setting broken ones aside.

A reader never lets an exception escape from a bad file, whatever is in it: links and
special files are refused before opening, sizes are checked before reading, the JSON parser
bounds nesting and number sizes, older formats are upgraded (migrations.py) and newer ones
refused without touching the file. A file whose content is bad is moved into <root>/broken/
with the reason; a file that merely could not be read (permissions, I/O) is left in place.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pydantic_core
from pydantic import BaseModel, ValidationError

from ..atomic import UnsafeFile, read_bounded, write_bytes_atomic
from ..errors import BrokenFile, CheckpointTooLarge, NewerFormat, NotFound, SessionManagerError, StorageError
from ..models import Checkpoint, utcnow
from ..plain import plain
from .entry_size import SAVE_ADVICE, too_large
from .layout import SESSION_FILE, Layout, is_real_dir

M = TypeVar("M", bound=BaseModel)
Problem = BrokenFile | NewerFormat
# Names in broken/ stay well under the 255 bytes most file systems allow.
_MAX_ASIDE_NAME = 180


class StoreFiles:
    """Model files of one store; every problem found is handed to ``report``."""

    def __init__(self, layout: Layout, report: Callable[[Problem], None]) -> None:
        self.layout = layout
        self.report = report

    def read(self, path: Path, model_type: type[M], limit: int, expected_id: str | None = None) -> M:
        """The validated model; NotFound when missing, BrokenFile (set aside) or NewerFormat when bad."""
        try:
            data = read_bounded(path, limit)
        except FileNotFoundError as exc:
            raise NotFound(f"{path} does not exist") from exc
        except UnsafeFile as exc:
            raise self.set_aside(path, str(exc)) from exc
        except OSError as exc:
            problem = BrokenFile(path, f"could not be read: {exc.strerror or exc}; it was left in place", None)
            self.report(problem)
            raise problem from exc
        try:
            model = model_type.model_validate(pydantic_core.from_json(data))
        except NewerFormat as exc:
            newer = exc.at(path)
            self.report(newer)
            raise newer from exc
        except Exception as exc:  # noqa: BLE001 - whatever a hostile file triggers, it is a broken file
            raise self.set_aside(path, describe_invalid(exc)) from exc
        found = getattr(model, "id", expected_id)
        if expected_id is not None and found != expected_id:
            place = "folder name" if path.name == SESSION_FILE else "file name"
            raise self.set_aside(path, f"its id {found!r} does not match the {place} ({expected_id})")
        return model

    def write(self, path: Path, model: BaseModel) -> None:
        """Atomic write of a model; text that cannot be stored, or a checkpoint too large to import back from
        its export, is refused before anything is written."""
        try:
            data = model.model_dump_json(indent=2).encode("utf-8")
        except (pydantic_core.PydanticSerializationError, UnicodeEncodeError, ValueError) as exc:
            raise StorageError(f"{path.name} was not saved: part of its text is not valid Unicode ({exc})") from exc
        if isinstance(model, Checkpoint) and (why := too_large(data)):
            raise CheckpointTooLarge(f"this {_kind(model)} is too large: {why}; {SAVE_ADVICE}", why)
        write_bytes_atomic(path, data)

    def set_aside(self, path: Path, reason: str) -> BrokenFile:
        """Move ``path`` (a file, a link or a folder) into broken/; left in place when that is not safe."""
        target = None
        if not self.layout.within(path):
            reason += "; it was left in place (it is not inside the store through real folders)"
        else:
            try:
                self.layout.broken.mkdir(exist_ok=True)
                if not is_real_dir(self.layout.broken):
                    raise OSError(f"{self.layout.broken} is not a folder")
                candidate = self.layout.broken / _aside_name(path, self.layout.root)
                os.replace(path, candidate)
                target = candidate
            except FileNotFoundError:
                reason += "; it was already gone"
            except OSError as exc:
                reason += f"; it could not be moved ({getattr(exc, 'strerror', None) or exc}) and was left in place"
        problem = BrokenFile(path, reason, target)
        self.report(problem)
        return problem


def _kind(checkpoint: Checkpoint) -> str:
    return "autosave" if checkpoint.trigger == "autosave" else "checkpoint"


MAX_REASON = 300  # characters of a refusal's reason; a hostile key may be of any length


def describe_invalid(exc: BaseException) -> str:
    """Why a file's content was refused, in one line (whatever keys or values the file holds)."""
    reason = plain(_reason(exc))
    return reason if len(reason) <= MAX_REASON else reason[:MAX_REASON - 1] + "…"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        errors = exc.errors()
        first: dict[str, Any] = dict(errors[0]) if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ())) or "file"
        message = str(first.get("msg", "invalid value"))
        if first.get("type") == "json_invalid":
            return f"not valid JSON ({message.removeprefix('Invalid JSON: ')})"
        return f"invalid {where}: {message}"
    if isinstance(exc, ValueError) and not isinstance(exc, SessionManagerError):
        return f"not valid JSON ({exc})"
    if isinstance(exc, RecursionError):
        return "nested too deeply to be a file of this store"
    if isinstance(exc, MemoryError):
        return "too large to read into memory"
    return f"unreadable ({exc.__class__.__name__}: {exc})"


def _aside_name(path: Path, root: Path) -> str:
    """<time>-<random>__<the path's parts below the root>, shortened with a hash when long."""
    try:
        parts = Path(os.path.abspath(path)).relative_to(os.path.abspath(root)).parts
    except ValueError:
        parts = (path.name,)
    tail = "__".join(parts)
    if len(tail.encode("utf-8", "surrogateescape")) > _MAX_ASIDE_NAME:
        digest = hashlib.sha256(tail.encode("utf-8", "surrogateescape")).hexdigest()[:12]
        tail = f"{tail.encode('utf-8', 'surrogateescape')[:100].decode('utf-8', 'ignore')}…{digest}"
    return f"{utcnow().strftime('%Y%m%dT%H%M%S%f')}-{secrets.token_hex(2)}__{tail}"
