"""Export and import of sessions.

Formats: ``zip`` (the session folder with its KV snapshots; imports back whole), ``json``
(session and checkpoints in one file; imports back), ``markdown`` (readable text) and
``jsonl`` (prompt/completion pairs for training). Imports always create a new session, so
nothing already in the store is touched; every file in an archive is validated first.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from .atomic import write_bytes_atomic, write_text_atomic
from .errors import ImportFailed
from .models import Checkpoint, SessionMeta, is_checkpoint_id
from .store import SessionStore

ExportFormat = Literal["zip", "json", "markdown", "jsonl"]
FORMATS: tuple[ExportFormat, ...] = ("zip", "json", "markdown", "jsonl")
SUFFIX = {"zip": ".zip", "json": ".json", "markdown": ".md", "jsonl": ".jsonl"}
MAX_IMPORT_BYTES = 8 * 1024**3  # a zip bomb stops here


class SessionExport(BaseModel):
    """The single-file JSON export."""

    session_manager_export: int = 1
    session: SessionMeta
    checkpoints: list[Checkpoint]
    autosave: Checkpoint | None = None


def export_session(store: SessionStore, session_id: str, dest_dir: Path, fmt: ExportFormat) -> Path:
    """Write one export file into ``dest_dir`` and return its path."""
    meta = store.get_session(session_id)
    checkpoints = list(reversed(store.list_checkpoints(session_id)))  # oldest first reads naturally
    dest = Path(dest_dir) / f"{_file_stem(meta)}{SUFFIX[fmt]}"
    if fmt == "zip":
        _export_zip(store, session_id, dest)
    elif fmt == "json":
        doc = SessionExport(session=meta, checkpoints=checkpoints, autosave=store.read_autosave(session_id))
        write_text_atomic(dest, doc.model_dump_json(indent=2))
    elif fmt == "markdown":
        write_text_atomic(dest, _markdown(meta, checkpoints))
    else:
        lines = [json.dumps({"prompt": c.input_text, "completion": _completion(c)}, ensure_ascii=False)
                 for c in checkpoints if c.mode != "chat"]
        write_text_atomic(dest, "\n".join(lines) + ("\n" if lines else ""))
    return dest


def import_file(store: SessionStore, path: Path) -> SessionMeta:
    """Import a .zip or .json export as a new session."""
    path = Path(path)
    if path.suffix.lower() == ".zip":
        return _import_zip(store, path)
    try:
        doc = SessionExport.model_validate_json(path.read_bytes())
    except (OSError, ValidationError, ValueError) as exc:
        raise ImportFailed(f"{path.name} is not a Session Manager export ({_reason(exc)})") from exc
    return _add_imported(store, doc.session, doc.checkpoints, doc.autosave, blobs={})


def _export_zip(store: SessionStore, session_id: str, dest: Path) -> None:
    folder = store.session_dir(session_id)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file() and not file.name.startswith("."):
                archive.write(file, file.relative_to(folder).as_posix())
    tmp.replace(dest)


def _import_zip(store: SessionStore, path: Path) -> SessionMeta:
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ImportFailed(f"{path.name} is not a readable zip file ({exc})") from exc
    with archive:
        names = archive.namelist()
        if sum(info.file_size for info in archive.infolist()) > MAX_IMPORT_BYTES:
            raise ImportFailed(f"{path.name} unpacks to more than {MAX_IMPORT_BYTES // 1024**3} GB")
        for name in names:
            if not _allowed_member(name):
                raise ImportFailed(f"{path.name} contains an unexpected file {name!r}; nothing was imported")
        if "session.json" not in names:
            raise ImportFailed(f"{path.name} has no session.json; is it a Session Manager export?")
        try:
            meta = SessionMeta.model_validate_json(archive.read("session.json"))
            checkpoints = [Checkpoint.model_validate_json(archive.read(n)) for n in names
                           if n.startswith("checkpoints/")]
            autosave = (Checkpoint.model_validate_json(archive.read("autosave.json"))
                        if "autosave.json" in names else None)
            blobs = {n.split("/", 1)[1][:-3]: archive.read(n) for n in names if n.startswith("kv/")}
        except (ValidationError, ValueError, zipfile.BadZipFile) as exc:
            raise ImportFailed(f"{path.name} has a broken file ({_reason(exc)}); nothing was imported") from exc
    return _add_imported(store, meta, checkpoints, autosave, blobs)


def _add_imported(store: SessionStore, meta: SessionMeta, checkpoints: list[Checkpoint],
                  autosave: Checkpoint | None, blobs: dict[str, bytes]) -> SessionMeta:
    new = store.create_session(meta.name, mode=meta.mode)
    new = store.update_session(new.id, tags=sorted({*meta.tags, "imported"}), notes=meta.notes)
    for checkpoint in checkpoints:
        blob = blobs.get(checkpoint.id)
        if blob is not None and checkpoint.kv is not None:
            write_bytes_atomic(store.kv_path(new.id, checkpoint.id), blob)
        elif checkpoint.kv is not None:
            checkpoint = checkpoint.model_copy(update={"kv": None})
        store.add_checkpoint(new.id, checkpoint)
    if autosave is not None:
        store.write_autosave(new.id, autosave)
    return store.get_session(new.id)


def _allowed_member(name: str) -> bool:
    """Only the files an export writes, by exact shape: no paths can escape the session."""
    if name in ("session.json", "autosave.json"):
        return True
    folder, _, file = name.partition("/")
    if folder == "checkpoints":
        return file.endswith(".json") and is_checkpoint_id(file[:-5])
    if folder == "kv":
        return file.endswith(".kv") and is_checkpoint_id(file[:-3])
    return False


def _markdown(meta: SessionMeta, checkpoints: list[Checkpoint]) -> str:
    parts = [f"# {meta.name}\n"]
    for c in checkpoints:
        when = c.created.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        title = f"## {when} · {c.trigger}" + (f" · {c.label}" if c.label else "")
        text = c.output_text or c.input_text
        parts.append(f"{title}\n\n```text\n{text}\n```\n")
    return "\n".join(parts)


def _completion(checkpoint: Checkpoint) -> str:
    out, prompt = checkpoint.output_text, checkpoint.input_text
    return out[len(prompt):] if out.startswith(prompt) else out


def _file_stem(meta: SessionMeta) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in meta.name)[:40].strip("_")
    return f"{safe or 'session'}-{meta.id}"


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(map(str, first.get('loc', ())))}: {first.get('msg')}"
    return str(exc)
