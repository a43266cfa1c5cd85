"""SessionStore: sessions and checkpoints as folders of small JSON files.

Layout (DESIGN.md, format_version 1):
    <root>/sessions/<session-id>/session.json
    <root>/sessions/<session-id>/checkpoints/<checkpoint-id>.json   immutable
    <root>/sessions/<session-id>/autosave.json                      rolling
    <root>/sessions/<session-id>/kv/<checkpoint-id>.kv              KV-state blob
    <root>/broken/                                                  files that failed validation

Adding a checkpoint writes one new file, so it costs the same with 10 or 10,000.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from .atomic import write_text_atomic
from .errors import BrokenFile, InvalidId, InvalidName, NotFound, StorageError
from .models import (
    Checkpoint,
    HostLink,
    Mode,
    ParentRef,
    SessionMeta,
    is_checkpoint_id,
    is_session_id,
    new_checkpoint_id,
    new_session_id,
    utcnow,
)

MAX_NAME_LENGTH = 120
_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True)
class SessionSummary:
    """One row of the session list."""

    meta: SessionMeta
    n_checkpoints: int
    kv_bytes: int
    has_autosave: bool


@dataclass(frozen=True)
class KVBlobInfo:
    session_id: str
    checkpoint_id: str
    path: Path
    size: int


class SessionStore:
    """All reads and writes of the store; one lock per session for writers in threads."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser()
        self.sessions_dir = self.root / "sessions"
        self.broken_dir = self.root / "broken"
        self.problems: list[BrokenFile] = []
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()
        self._last_autosave: dict[str, Checkpoint] = {}
        self._revision = 0
        try:
            self.sessions_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the session folder {self.sessions_dir}: {exc.strerror}") from exc

    # ----- sessions -------------------------------------------------------------------------

    def create_session(self, name: str, mode: Mode = "default", parent: ParentRef | None = None) -> SessionMeta:
        now = utcnow()
        meta = SessionMeta(id=new_session_id(now), name=clean_name(name), created=now, updated=now, mode=mode,
                           parent=parent)
        folder = self.sessions_dir / meta.id
        (folder / "checkpoints").mkdir(parents=True, exist_ok=False)
        self._write_model(folder / "session.json", meta)
        return meta

    def get_session(self, session_id: str) -> SessionMeta:
        path = self._session_dir(session_id) / "session.json"
        if not path.exists():
            raise NotFound(f"there is no session {session_id}")
        return self._read_model(path, SessionMeta)

    def list_sessions(self) -> list[SessionSummary]:
        """Every readable session, most recently changed first. Broken ones go to ``problems``."""
        rows = []
        for folder in self._session_folders():
            try:
                meta = self.get_session(folder.name)
            except BrokenFile:
                continue
            except NotFound:
                continue
            rows.append(SessionSummary(
                meta=meta,
                n_checkpoints=len(self.checkpoint_ids(meta.id)),
                kv_bytes=self.kv_bytes(meta.id),
                has_autosave=(folder / "autosave.json").exists(),
            ))
        rows.sort(key=lambda row: (row.meta.updated, row.meta.id), reverse=True)
        return rows

    def rename_session(self, session_id: str, name: str) -> SessionMeta:
        """Change the label only: no file moves, so two sessions may share a name."""
        with self._lock(session_id):
            meta = self.get_session(session_id)
            meta = meta.model_copy(update={"name": clean_name(name), "updated": utcnow()})
            self._write_model(self._session_dir(session_id) / "session.json", meta)
            return meta

    def update_session(self, session_id: str, **fields: object) -> SessionMeta:
        with self._lock(session_id):
            meta = self.get_session(session_id)
            meta = SessionMeta.model_validate({**meta.model_dump(), **fields, "updated": utcnow()})
            self._write_model(self._session_dir(session_id) / "session.json", meta)
            return meta

    def delete_session(self, session_id: str) -> None:
        folder = self._session_dir(session_id)
        if not folder.exists():
            raise NotFound(f"there is no session {session_id}")
        with self._lock(session_id):
            # Rename first: the session disappears at once even if the tree removal is interrupted.
            doomed = self.root / f".deleting-{session_id}"
            os.replace(folder, doomed)
            shutil.rmtree(doomed, ignore_errors=True)
            self._last_autosave.pop(session_id, None)

    def branch(self, session_id: str, checkpoint_id: str, name: str | None = None) -> tuple[SessionMeta, Checkpoint]:
        """A new session that starts from a copy of one checkpoint (its KV blob is copied too)."""
        source = self.get_session(session_id)
        checkpoint = self.get_checkpoint(session_id, checkpoint_id)
        meta = self.create_session(name or f"{source.name} (branch)", mode=checkpoint.mode,
                                   parent=ParentRef(session=session_id, checkpoint=checkpoint_id))
        copy = checkpoint.model_copy(update={"id": new_checkpoint_id(), "created": utcnow(), "trigger": "branch",
                                             "kv": None})
        if checkpoint.kv is not None:
            blob = self.kv_path(session_id, checkpoint_id)
            if blob.exists():
                target = self.kv_path(meta.id, copy.id)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(blob, target)
                copy = copy.model_copy(update={"kv": checkpoint.kv.model_copy(update={"file": target.name})})
        return meta, self.add_checkpoint(meta.id, copy)

    def search(self, query: str) -> list[SessionSummary]:
        """Sessions whose name, tags, notes, or latest text contain every word of ``query``."""
        words = [w.casefold() for w in query.split()]
        if not words:
            return self.list_sessions()
        hits = []
        for row in self.list_sessions():
            latest = self.latest_state(row.meta.id)
            haystack = " ".join([row.meta.name, " ".join(row.meta.tags), row.meta.notes,
                                 latest.label if latest else "", latest.input_text if latest else "",
                                 latest.output_text if latest else ""]).casefold()
            if all(w in haystack for w in words):
                hits.append(row)
        return hits

    # ----- checkpoints ----------------------------------------------------------------------

    def add_checkpoint(self, session_id: str, checkpoint: Checkpoint) -> Checkpoint:
        with self._lock(session_id):
            meta = self.get_session(session_id)
            path = self._session_dir(session_id) / "checkpoints" / f"{checkpoint.id}.json"
            if path.exists():
                raise StorageError(f"checkpoint {checkpoint.id} already exists; checkpoints are never overwritten")
            self._write_model(path, checkpoint)
            meta = meta.model_copy(update={"updated": utcnow(), "mode": checkpoint.mode})
            self._write_model(self._session_dir(session_id) / "session.json", meta)
            return checkpoint

    def checkpoint_ids(self, session_id: str) -> list[str]:
        """Newest first; ids sort by time, so no file is opened."""
        folder = self._session_dir(session_id) / "checkpoints"
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return []
        ids = [n[:-5] for n in names if n.endswith(".json") and is_checkpoint_id(n[:-5])]
        return sorted(ids, reverse=True)

    def list_checkpoints(self, session_id: str, limit: int | None = None) -> list[Checkpoint]:
        """Newest first; a broken file is set aside and skipped."""
        result = []
        for checkpoint_id in self.checkpoint_ids(session_id):
            if limit is not None and len(result) >= limit:
                break
            try:
                result.append(self.get_checkpoint(session_id, checkpoint_id))
            except (BrokenFile, NotFound):
                continue
        return result

    def get_checkpoint(self, session_id: str, checkpoint_id: str) -> Checkpoint:
        if not is_checkpoint_id(checkpoint_id):
            raise InvalidId(f"{checkpoint_id!r} is not a checkpoint id")
        path = self._session_dir(session_id) / "checkpoints" / f"{checkpoint_id}.json"
        if not path.exists():
            raise NotFound(f"session {session_id} has no checkpoint {checkpoint_id}")
        return self._read_model(path, Checkpoint)

    def delete_checkpoint(self, session_id: str, checkpoint_id: str) -> None:
        with self._lock(session_id):
            checkpoint = self.get_checkpoint(session_id, checkpoint_id)
            (self._session_dir(session_id) / "checkpoints" / f"{checkpoint.id}.json").unlink()
            self.kv_path(session_id, checkpoint_id).unlink(missing_ok=True)

    # ----- autosave -------------------------------------------------------------------------

    def write_autosave(self, session_id: str, snapshot: Checkpoint) -> bool:
        """Replace the rolling autosave; returns False (and writes nothing) when unchanged."""
        with self._lock(session_id):
            previous = self._last_autosave.get(session_id) or self.read_autosave(session_id)
            if snapshot.same_content(previous):
                return False
            self._write_model(self._session_dir(session_id) / "autosave.json", snapshot)
            self._last_autosave[session_id] = snapshot
            return True

    def read_autosave(self, session_id: str) -> Checkpoint | None:
        path = self._session_dir(session_id) / "autosave.json"
        if not path.exists():
            return None
        try:
            return self._read_model(path, Checkpoint)
        except BrokenFile:
            return None

    def latest_state(self, session_id: str) -> Checkpoint | None:
        """The newer of the latest checkpoint and the autosave (what auto-load brings back)."""
        latest = next(iter(self.list_checkpoints(session_id, limit=1)), None)
        autosave = self.read_autosave(session_id)
        candidates = [c for c in (latest, autosave) if c is not None]
        return max(candidates, key=lambda c: c.created) if candidates else None

    # ----- KV blobs -------------------------------------------------------------------------

    def kv_path(self, session_id: str, checkpoint_id: str) -> Path:
        if not is_checkpoint_id(checkpoint_id):
            raise InvalidId(f"{checkpoint_id!r} is not a checkpoint id")
        return self._session_dir(session_id) / "kv" / f"{checkpoint_id}.kv"

    def has_kv(self, session_id: str, checkpoint: Checkpoint) -> bool:
        """The checkpoint names a KV snapshot and its blob is still on disk (the budget may evict it)."""
        return checkpoint.kv is not None and self.kv_path(session_id, checkpoint.id).exists()

    def kv_bytes(self, session_id: str) -> int:
        return sum(blob.size for blob in self._kv_blobs_of(session_id))

    def kv_blobs(self) -> list[KVBlobInfo]:
        """Every KV blob in the store, oldest first (ids sort by time)."""
        blobs = [blob for folder in self._session_folders() for blob in self._kv_blobs_of(folder.name)]
        return sorted(blobs, key=lambda b: b.checkpoint_id)

    def evict_kv(self, budget_bytes: int, keep: set[str] | None = None) -> list[KVBlobInfo]:
        """Delete the oldest KV blobs until the total fits ``budget_bytes``. Text is never touched."""
        keep = keep or set()
        blobs = self.kv_blobs()
        total = sum(b.size for b in blobs)
        evicted = []
        for blob in blobs:
            if total <= budget_bytes:
                break
            if blob.checkpoint_id in keep:
                continue
            blob.path.unlink(missing_ok=True)
            total -= blob.size
            evicted.append(blob)
        return evicted

    # ----- lookups (interim: scans; the index replaces them) ---------------------------------

    def revision(self) -> int:
        """Changes whenever a session was written through this store object (interim)."""
        return self._revision

    def find_by_link(self, link: HostLink) -> SessionMeta | None:
        for row in self.list_sessions():
            if row.meta.link == link:
                return row.meta
        return None

    # ----- files ----------------------------------------------------------------------------

    def session_dir(self, session_id: str) -> Path:
        return self._session_dir(session_id)

    def set_aside(self, path: Path, reason: str) -> BrokenFile:
        """Move a broken file into <root>/broken/ so it is kept for the user but out of the way."""
        self.broken_dir.mkdir(parents=True, exist_ok=True)
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            relative = Path(path.name)
        target = self.broken_dir / f"{utcnow().strftime('%Y%m%dT%H%M%S%f')}__{'__'.join(relative.parts)}"
        try:
            os.replace(path, target)
        except OSError:
            target = None
        problem = BrokenFile(path, reason, target)
        self.problems.append(problem)
        return problem

    # ----- helpers --------------------------------------------------------------------------

    def _session_dir(self, session_id: str) -> Path:
        if not is_session_id(session_id):
            raise InvalidId(f"{session_id!r} is not a session id")
        return self.sessions_dir / session_id

    def _session_folders(self) -> list[Path]:
        try:
            entries = list(os.scandir(self.sessions_dir))
        except FileNotFoundError:
            return []
        return [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False) and is_session_id(e.name)]

    def _kv_blobs_of(self, session_id: str) -> list[KVBlobInfo]:
        folder = self._session_dir(session_id) / "kv"
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return []
        # Only regular files: a folder or a link named like a blob is never counted or deleted.
        return [KVBlobInfo(session_id, e.name[:-3], Path(e.path), e.stat(follow_symlinks=False).st_size)
                for e in entries
                if e.name.endswith(".kv") and is_checkpoint_id(e.name[:-3]) and e.is_file(follow_symlinks=False)]

    def _lock(self, session_id: str) -> threading.RLock:
        with self._locks_guard:
            return self._locks.setdefault(session_id, threading.RLock())

    def _write_model(self, path: Path, model: BaseModel) -> None:
        write_text_atomic(path, model.model_dump_json(indent=2))
        self._revision += 1

    def _read_model(self, path: Path, model_type: type[_M]) -> _M:
        """Parse and validate; a file that fails is set aside and raised as BrokenFile."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            model = model_type.model_validate(data)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
            raise self.set_aside(path, _short_reason(exc)) from exc
        expected = path.stem if path.parent.name == "checkpoints" else None
        if expected and getattr(model, "id", expected) != expected:
            raise self.set_aside(path, f"its id {getattr(model, 'id', '')!r} does not match the file name")
        if path.name == "session.json" and getattr(model, "id", None) != path.parent.name:
            raise self.set_aside(path, "its id does not match the folder name")
        return model


def clean_name(name: str) -> str:
    """A user-typed name as a one-line label: control characters out, length capped."""
    text = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in str(name or ""))
    text = " ".join(text.split())[:MAX_NAME_LENGTH].strip()
    if not text:
        raise InvalidName("a session name needs at least one visible character")
    return text


def _short_reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "file"
        return f"invalid {where}: {first.get('msg', 'invalid value')}"
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON (line {exc.lineno}, column {exc.colno})"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return str(exc)
