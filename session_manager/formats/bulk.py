"""Many sessions in one zip (a backup, a move to another machine), and back.

Layout of the archive::

    manifest.json                                  {"session_manager_bulk": 1, "created", "kv", "sessions": [...]}
    sessions/<session-id>/session.json
    sessions/<session-id>/autosave.json            when the session has one
    sessions/<session-id>/marks.json               pins, notes and labels, when there are any
    sessions/<session-id>/checkpoints/<id>.json
    sessions/<session-id>/kv/<id>.kv               KV snapshots, unless left out

Every file is written from the validated models, so a file the store had to set aside is never
exported. Reading back, only members of exactly these shapes are accepted.
"""

from __future__ import annotations

import json
import shutil
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import ImportFailed, StorageError
from ..models import Checkpoint, SessionMarks, SessionMeta, is_checkpoint_id, is_session_id, utcnow
from ..store import SessionStore
from ..store.bundle import SessionBundle
from .common import replacing
from .report import Progress, no_progress
from .selection import session_marks

BULK_MARKER = "session_manager_bulk"
ORIGIN_PREFIX = "session-manager:"  # a session exported from a store, by its id there
MAX_ARCHIVE_BYTES = 8 * 1024**3  # unpacked; a zip bomb stops here
MAX_MEMBERS = 1_000_000
MAX_JSON_BYTES = 64 * 1024**2  # one session, checkpoint, autosave or marks file
_SESSION_FILES = ("session.json", "autosave.json", "marks.json")


@dataclass
class BulkExport:
    path: Path
    sessions: int = 0
    checkpoints: int = 0
    kv_files: int = 0
    kv_bytes: int = 0

    def summary(self) -> str:
        kv = f" and {self.kv_files} KV snapshot(s)" if self.kv_files else ""
        return f"Exported {self.sessions} session(s) with {self.checkpoints} checkpoint(s){kv} to {self.path}"


def export_bulk(store: SessionStore, session_ids: Sequence[str], dest: Path, include_kv: bool = True,
                progress: Progress | None = None) -> BulkExport:
    """Write the sessions into one zip at ``dest`` (replaced only once the archive is complete)."""
    progress = progress or no_progress
    result = BulkExport(path=Path(dest))
    listed: list[dict[str, Any]] = []
    with replacing(result.path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED,
                                                         allowZip64=True) as archive:
        for done, session_id in enumerate(session_ids):
            meta = store.get_session(session_id)
            progress(done, len(session_ids), meta.name)
            listed.append(_write_session(store, archive, meta, include_kv, result))
        manifest = {BULK_MARKER: 1, "created": utcnow().isoformat(), "kv": include_kv, "sessions": listed}
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    progress(len(session_ids), len(session_ids), "")
    return result


def is_bulk_archive(names: Sequence[str]) -> bool:
    return "manifest.json" in names and any(name.startswith("sessions/") for name in names)


def read_bulk(path: Path, work: Path) -> Iterator[tuple[str, SessionBundle | ImportFailed]]:
    """Each session of the archive in turn; its KV blobs are unpacked into ``work`` until the next one."""
    archive = _open(path)
    with archive:
        sessions = _check_members(path.name, archive)
        names = _manifest_names(path.name, archive)
        for session_id, members in sessions.items():
            label = f"{path.name} {names.get(session_id, session_id)!r}"
            folder = work / session_id
            try:
                yield label, _bundle(archive, session_id, members, folder)
            except ImportFailed as exc:
                yield label, ImportFailed(f"{label}: {exc}")
            finally:
                shutil.rmtree(folder, ignore_errors=True)


def _write_session(store: SessionStore, archive: zipfile.ZipFile, meta: SessionMeta, include_kv: bool,
                   result: BulkExport) -> dict[str, Any]:
    base = f"sessions/{meta.id}/"
    archive.writestr(base + "session.json", meta.model_dump_json(indent=2))
    checkpoints = store.list_checkpoints(meta.id)
    for checkpoint in checkpoints:
        archive.writestr(f"{base}checkpoints/{checkpoint.id}.json", checkpoint.model_dump_json(indent=2))
    autosave = store.read_autosave(meta.id)
    if autosave is not None:
        archive.writestr(base + "autosave.json", autosave.model_dump_json(indent=2))
    marks = session_marks(store, meta.id)
    if marks.marks:
        archive.writestr(base + "marks.json", marks.model_dump_json(indent=2))
    kv_files = 0
    for checkpoint in checkpoints if include_kv else []:
        if not store.has_kv(meta.id, checkpoint):
            continue
        blob = store.kv_path(meta.id, checkpoint.id)
        try:  # KV snapshots are stored as they are: they are large and compress poorly
            archive.write(blob, f"{base}kv/{blob.name}", compress_type=zipfile.ZIP_STORED)
        except FileNotFoundError:
            continue  # evicted by the disk budget a moment ago: the checkpoint goes without it
        kv_files += 1
        result.kv_bytes += archive.getinfo(f"{base}kv/{blob.name}").file_size
    result.sessions += 1
    result.checkpoints += len(checkpoints)
    result.kv_files += kv_files
    return {"id": meta.id, "name": meta.name, "checkpoints": len(checkpoints), "kv": kv_files}


def _open(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ImportFailed(f"{path.name} is not a readable zip file ({exc})") from exc


def _check_members(name: str, archive: zipfile.ZipFile) -> dict[str, list[zipfile.ZipInfo]]:
    """Members by session; anything of another shape refuses the whole archive before a byte is unpacked."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ImportFailed(f"{name} holds more than {MAX_MEMBERS} files")
    if sum(info.file_size for info in infos) > MAX_ARCHIVE_BYTES:
        raise ImportFailed(f"{name} unpacks to more than {MAX_ARCHIVE_BYTES // 1024**3} GB")
    sessions: dict[str, list[zipfile.ZipInfo]] = {}
    for info in infos:
        if info.filename == "manifest.json":
            continue
        session_id = _session_of(info.filename)
        if session_id is None:
            raise ImportFailed(f"{name} contains an unexpected file {info.filename!r}; nothing was imported")
        sessions.setdefault(session_id, []).append(info)
    return sessions


def _session_of(member: str) -> str | None:
    parts = member.split("/")
    if len(parts) < 3 or parts[0] != "sessions" or not is_session_id(parts[1]):
        return None
    rest = parts[2:]
    if len(rest) == 1 and rest[0] in _SESSION_FILES:
        return parts[1]
    if len(rest) == 2 and rest[0] == "checkpoints" and rest[1].endswith(".json") and is_checkpoint_id(rest[1][:-5]):
        return parts[1]
    if len(rest) == 2 and rest[0] == "kv" and rest[1].endswith(".kv") and is_checkpoint_id(rest[1][:-3]):
        return parts[1]
    return None


def _manifest_names(name: str, archive: zipfile.ZipFile) -> dict[str, str]:
    try:
        manifest = json.loads(_read_member(archive, archive.getinfo("manifest.json")))
    except (KeyError, ValueError) as exc:
        raise ImportFailed(f"{name} has no readable manifest.json; is it a Session Manager archive?") from exc
    if not isinstance(manifest, dict) or manifest.get(BULK_MARKER) != 1:
        raise ImportFailed(f"{name} is not a Session Manager archive of a version this one reads")
    rows = manifest.get("sessions") if isinstance(manifest.get("sessions"), list) else []
    return {row["id"]: str(row.get("name")) for row in rows if isinstance(row, dict) and isinstance(row.get("id"), str)}


def _bundle(archive: zipfile.ZipFile, session_id: str, members: list[zipfile.ZipInfo], folder: Path) -> SessionBundle:
    by_name = {info.filename.split("/", 2)[2]: info for info in members}
    if "session.json" not in by_name:
        raise ImportFailed("it has no session.json")
    meta = _model(archive, by_name["session.json"], SessionMeta)
    if meta.id != session_id:
        raise ImportFailed("its session.json names another session")
    checkpoints = []
    for member, info in sorted(by_name.items()):
        if member.startswith("checkpoints/"):
            checkpoint = _model(archive, info, Checkpoint)
            if checkpoint.id != member[len("checkpoints/"):-5]:
                raise ImportFailed(f"{member} holds checkpoint {checkpoint.id}")
            checkpoints.append(checkpoint)
    autosave = _model(archive, by_name["autosave.json"], Checkpoint) if "autosave.json" in by_name else None
    marks = _model(archive, by_name["marks.json"], SessionMarks) if "marks.json" in by_name else None
    blobs = {}
    for checkpoint in checkpoints:
        info = by_name.get(f"kv/{checkpoint.id}.kv")
        if checkpoint.kv is not None and info is not None:
            blobs[checkpoint.id] = _unpack(archive, info, folder / f".{checkpoint.id}.kv.tmp")
    checkpoints = [c if c.id in blobs else c.model_copy(update={"kv": None}) for c in checkpoints]
    meta = meta.model_copy(update={"origin": meta.origin or ORIGIN_PREFIX + session_id})
    return SessionBundle(meta=meta, checkpoints=checkpoints, autosave=autosave, marks=marks, blobs=blobs)


def _model(archive: zipfile.ZipFile, info: zipfile.ZipInfo, model: type[BaseModel]) -> Any:
    member = info.filename.split("/", 2)[2]
    try:
        return model.model_validate_json(_read_member(archive, info))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ImportFailed(f"{member} is broken ({'.'.join(map(str, first['loc'])) or 'file'}: {first['msg']})") \
            from exc


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int = MAX_JSON_BYTES) -> bytes:
    if info.file_size > limit:
        raise ImportFailed(f"{info.filename} is larger than {limit // 1024**2} MB")
    try:
        with archive.open(info) as handle:
            data = handle.read(limit + 1)
    except (OSError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ImportFailed(f"{info.filename} cannot be unpacked ({exc})") from exc
    if len(data) > limit:
        raise ImportFailed(f"{info.filename} is larger than it says")
    return data


def _unpack(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> Path:
    """Copy one member to ``target`` in pieces, never more bytes than the archive declared."""
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with archive.open(info) as source, open(target, "wb") as out:
            while chunk := source.read(1024 * 1024):
                written += len(chunk)
                if written > info.file_size:
                    raise ImportFailed(f"{info.filename} is larger than it says")
                out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ImportFailed(f"{info.filename} cannot be unpacked ({exc})") from exc
    except OSError as exc:
        raise StorageError(f"could not unpack {info.filename}: {exc.strerror or exc}") from exc
    return target
