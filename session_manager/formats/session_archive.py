"""One session out and back in: Session Manager's own zip and JSON, and Markdown and JSONL to read or train on.

Formats: ``zip`` (the session folder with its KV snapshots; imports back whole), ``json``
(session and checkpoints in one file; imports back), ``markdown`` (readable text) and
``jsonl`` (prompt/completion pairs for training).

An import always creates a new session, all of it or nothing (``SessionStore.add_bundle``).
A zip is checked entry by entry before a byte is unpacked (names, count, declared sizes,
encryption, compression method), then streamed to disk inside the store within the limits
(a zip bomb stops at the limit, not at the end of the disk or of memory), and every KV
snapshot is verified before it joins the session.
"""

from __future__ import annotations

import json
import os
import stat
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from ..atomic import UnsafeFile, open_regular, write_text_atomic
from ..choices import ExportFormat
from ..errors import BrokenFile, ImportFailed, KVError, NewerFormat, SessionManagerError, StorageError
from ..models import Checkpoint, SessionMarks, SessionMeta
from ..store import SessionStore
from ..store.bundle import SessionBundle
from ..store.files import describe_invalid
from ..store.layout import AUTOSAVE_FILE, CHECKPOINTS, KV, MARKS_FILE, SESSION_FILE, checkpoint_id_of, kv_id_of

SUFFIX = {"zip": ".zip", "json": ".json", "markdown": ".md", "jsonl": ".jsonl"}
EXPORT_VERSION = 1
# Import limits (ImportLimits overrides them): far above any real export, far below a full disk.
MAX_IMPORT_BYTES = 8 << 30  # everything a zip unpacks to
MAX_JSON_ENTRY_BYTES = 256 << 20  # one session.json / checkpoint / autosave / marks file
MAX_IMPORT_ENTRIES = 100_000  # a session of 50,000 checkpoints, each with a KV snapshot
MAX_JSON_EXPORT_BYTES = 512 << 20  # a single-file JSON export
_CHUNK = 1 << 20
_COMPRESSIONS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}


@dataclass(frozen=True)
class ImportLimits:
    total_bytes: int = MAX_IMPORT_BYTES
    json_entry_bytes: int = MAX_JSON_ENTRY_BYTES
    entries: int = MAX_IMPORT_ENTRIES
    json_file_bytes: int = MAX_JSON_EXPORT_BYTES


class SessionExport(BaseModel):
    """The single-file JSON export."""

    model_config = ConfigDict(defer_build=True)

    session_manager_export: int = EXPORT_VERSION
    session: SessionMeta
    checkpoints: list[Checkpoint]
    autosave: Checkpoint | None = None
    marks: SessionMarks | None = None


def export_session(store: SessionStore, session_id: str, dest_dir: Path, fmt: ExportFormat) -> Path:
    """Write one export file into ``dest_dir`` and return its path."""
    meta = store.get_session(session_id)
    checkpoints = list(reversed(store.list_checkpoints(session_id)))  # oldest first reads naturally
    dest = Path(dest_dir) / f"{_file_stem(meta)}{SUFFIX[fmt]}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "zip":
        _export_zip(store, session_id, dest)
    elif fmt == "json":
        marks = store.marks(session_id)
        doc = SessionExport(session=meta, checkpoints=checkpoints, autosave=store.read_autosave(session_id),
                            marks=marks if marks.marks else None)
        write_text_atomic(dest, doc.model_dump_json(indent=2))
    elif fmt == "markdown":
        write_text_atomic(dest, _markdown(meta, checkpoints))
    else:
        lines = [json.dumps({"prompt": c.input_text, "completion": _completion(c)}, ensure_ascii=False)
                 for c in checkpoints if c.mode != "chat"]
        write_text_atomic(dest, "\n".join(lines) + ("\n" if lines else ""))
    return dest


def import_file(store: SessionStore, path: Path, limits: ImportLimits | None = None) -> SessionMeta:
    """Import a .zip or .json export as a new session; ImportFailed (and nothing written) when it cannot."""
    path = Path(path)
    limits = limits or ImportLimits()
    _check_input(path)
    try:
        if path.suffix.lower() == ".zip":
            return _import_zip(store, path, limits)
        return _import_json(store, path, limits)
    except NewerFormat as exc:
        raise ImportFailed(f"{path.name} was written by a newer Session Manager (format {exc.found}; this version "
                           f"reads up to {exc.supported}): update Session Manager to import it") from exc


# ----- import ---------------------------------------------------------------------------------


def _check_input(path: Path) -> None:
    """Only a regular file: /dev/zero never ends, a FIFO never answers."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ImportFailed(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a device, a pipe or another special file"
        raise ImportFailed(f"{path.name} is {kind}, not an export file; nothing was imported")


def _import_json(store: SessionStore, path: Path, limits: ImportLimits) -> SessionMeta:
    try:
        fd = open_regular(path.resolve())
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(limits.json_file_bytes + 1)
    except (OSError, UnsafeFile) as exc:
        raise ImportFailed(f"cannot read {path.name}: {getattr(exc, 'strerror', None) or exc}") from exc
    if len(data) > limits.json_file_bytes:
        raise ImportFailed(f"{path.name} is larger than {limits.json_file_bytes:,} bytes; nothing was imported")
    try:
        doc = SessionExport.model_validate_json(data)
    except ValidationError as exc:
        raise ImportFailed(f"{path.name} is not a Session Manager export ({describe_invalid(exc)}); "
                           "nothing was imported") from exc
    _check_export_version(path, doc.session_manager_export)
    return _add(store, SessionBundle(meta=doc.session, checkpoints=doc.checkpoints, autosave=doc.autosave,
                                     marks=doc.marks))


def _import_zip(store: SessionStore, path: Path, limits: ImportLimits) -> SessionMeta:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = _checked_entries(path, archive, limits)
            with store.scratch() as scratch:
                bundle = _unpack(path, archive, infos, scratch, limits, store.files.report)
                return _add(store, bundle)
    except SessionManagerError:
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile, zlib and struct fail in many ways on a hostile archive
        raise ImportFailed(f"{path.name} is not a readable zip file ({_zip_reason(exc)}); "
                           "nothing was imported") from exc


def _checked_entries(path: Path, archive: zipfile.ZipFile, limits: ImportLimits) -> list[zipfile.ZipInfo]:
    """Every entry checked before anything is unpacked; the reasons name the entry."""
    infos = archive.infolist()
    if len(infos) > limits.entries:
        raise ImportFailed(f"{path.name} has {len(infos):,} entries, more than the {limits.entries:,} an export "
                           "may have; nothing was imported")
    seen: set[str] = set()
    declared = 0
    for info in infos:
        name = info.orig_filename
        if "\x00" in name or name != info.filename or not _allowed_member(name):
            raise ImportFailed(f"{path.name} contains an unexpected file {name!r}; nothing was imported")
        if name in seen:
            raise ImportFailed(f"{path.name} contains {name!r} twice; nothing was imported")
        seen.add(name)
        if info.flag_bits & 0x1:
            raise ImportFailed(f"{path.name}: {name} is encrypted; Session Manager imports only its own "
                               "unencrypted exports")
        if info.compress_type not in _COMPRESSIONS:
            raise ImportFailed(f"{path.name}: {name} uses compression method {info.compress_type}, which "
                               "Session Manager exports never use; nothing was imported")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ImportFailed(f"{path.name}: {name} is a symbolic link; nothing was imported")
        limit = limits.total_bytes if name.startswith(f"{KV}/") else limits.json_entry_bytes
        if info.file_size > limit:
            raise ImportFailed(f"{path.name}: {name} unpacks to {info.file_size:,} bytes, more than the {limit:,} "
                               "allowed; nothing was imported")
        declared += info.file_size
        if declared > limits.total_bytes:
            raise ImportFailed(f"{path.name} unpacks to more than {limits.total_bytes:,} bytes; nothing was imported")
    if SESSION_FILE not in seen:
        raise ImportFailed(f"{path.name} has no session.json; is it a Session Manager export?")
    return infos


def _unpack(path: Path, archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], scratch: Path,
            limits: ImportLimits, store_report: Callable[[BrokenFile], None]) -> SessionBundle:
    meta: SessionMeta | None = None
    checkpoints: list[Checkpoint] = []
    autosave: Checkpoint | None = None
    marks: SessionMarks | None = None
    blobs: dict[str, Path] = {}
    budget = _Budget(path.name, limits.total_bytes)
    for info in infos:
        name = info.filename
        folder, _, file = name.partition("/")
        if folder == KV:
            blob = _unpack_blob(store_report, archive, info, scratch / file, budget)
            if blob is not None:
                blobs[kv_id_of(file) or ""] = blob
            continue
        with archive.open(info) as source:
            data = b"".join(_chunks(source, info, budget))
        if name == SESSION_FILE:
            meta = _parse(path, name, SessionMeta, data)
        elif name == AUTOSAVE_FILE:
            autosave = _parse(path, name, Checkpoint, data)
        elif name == MARKS_FILE:
            marks = _parse(path, name, SessionMarks, data)
        else:
            checkpoint = _parse(path, name, Checkpoint, data)
            if checkpoint.id != checkpoint_id_of(file):
                raise ImportFailed(f"{path.name}: {name} holds checkpoint {checkpoint.id}; nothing was imported")
            checkpoints.append(checkpoint)
    assert meta is not None  # _checked_entries made sure
    return SessionBundle(meta=meta, checkpoints=checkpoints, autosave=autosave, marks=marks, blobs=blobs)


class _Budget:
    def __init__(self, archive: str, total: int) -> None:
        self.archive = archive
        self.left = total

    def spend(self, name: str, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise ImportFailed(f"{self.archive} unpacks to more than it may; {name} went over the limit; "
                               "nothing was imported")


def _unpack_blob(report: Callable[[BrokenFile], None], archive: zipfile.ZipFile, info: zipfile.ZipInfo,
                 target: Path, budget: _Budget) -> Path | None:
    """Stream a KV snapshot to ``target`` once its header checks out; a bad one costs a few bytes and is left out."""
    from ..kvstate.blob import read_stream_header

    with archive.open(info) as source:
        head = _Recording(source)
        try:
            read_stream_header(info.filename, head, info.file_size)  # type: ignore[arg-type]
        except KVError as exc:
            report(BrokenFile(Path(info.filename), f"{exc}; this KV snapshot was not imported (the text was)", None))
            return None
        budget.spend(info.filename, len(head.seen))
        with open(target, "xb") as out:
            out.write(head.seen)
            for chunk in _chunks(source, info, budget, already=len(head.seen)):
                out.write(chunk)
    return target


class _Recording:
    """A reader that keeps what was read (the header of a blob, written out once it is known to be good)."""

    def __init__(self, source: zipfile.ZipExtFile) -> None:
        self.source = source
        self.seen = b""

    def read(self, size: int) -> bytes:
        data = self.source.read(size)
        self.seen += data
        return data


def _chunks(source: zipfile.ZipExtFile, info: zipfile.ZipInfo, budget: _Budget, already: int = 0) -> Iterator[bytes]:
    """The entry's bytes, never more than it declared (zipfile checks the CRC at the end)."""
    read = already
    while chunk := source.read(_CHUNK):
        read += len(chunk)
        if read > info.file_size:
            raise ImportFailed(f"{info.filename} unpacks to more than the {info.file_size:,} bytes it declares; "
                               "nothing was imported")
        budget.spend(info.filename, len(chunk))
        yield chunk


def _parse(path: Path, name: str, model_type: type[BaseModel], data: bytes):  # noqa: ANN202
    try:
        return model_type.model_validate_json(data)
    except ValidationError as exc:
        raise ImportFailed(f"{path.name}: {name} is broken ({describe_invalid(exc)}); nothing was imported") from exc


def _add(store: SessionStore, bundle: SessionBundle) -> SessionMeta:
    meta = bundle.meta.model_copy(update={"tags": sorted({*bundle.meta.tags, "imported"})})
    if meta.link is not None and store.find_by_link(meta.link) is not None:
        meta = meta.model_copy(update={"link": None})  # that prompt or chat already has its session here
    try:
        return store.add_bundle(SessionBundle(meta=meta, checkpoints=bundle.checkpoints, autosave=bundle.autosave,
                                              marks=bundle.marks, blobs=bundle.blobs))
    except StorageError as exc:
        raise ImportFailed(f"nothing was imported: {exc}") from exc


def _check_export_version(path: Path, version: int) -> None:
    if version > EXPORT_VERSION:
        raise ImportFailed(f"{path.name} was written by a newer Session Manager (export format {version}); "
                           "update Session Manager to import it")


def _allowed_member(name: str) -> bool:
    """Only the files an export writes, by exact shape: no paths can escape the session."""
    if name in (SESSION_FILE, AUTOSAVE_FILE, MARKS_FILE):
        return True
    folder, _, file = name.partition("/")
    if folder == CHECKPOINTS:
        return checkpoint_id_of(file) is not None
    if folder == KV:
        return kv_id_of(file) is not None
    return False


def _zip_reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    return text[:200]


# ----- export ---------------------------------------------------------------------------------


def _export_zip(store: SessionStore, session_id: str, dest: Path) -> None:
    """The session's own files only, read as regular files inside the store (never through a link)."""
    layout = store.layout
    members = [(SESSION_FILE, layout.session_file(session_id)), (AUTOSAVE_FILE, layout.autosave(session_id)),
               (MARKS_FILE, layout.marks(session_id))]
    members += [(f"{CHECKPOINTS}/{cid}.json", layout.checkpoint(session_id, cid))
                for cid in reversed(layout.checkpoint_ids(session_id))]
    members += [(f"{KV}/{cid}.kv", layout.kv(session_id, cid)) for cid in sorted(layout.kv_sizes(session_id))
                if _is_blob(layout.kv(session_id, cid))]
    tmp = dest.with_name(f".{dest.name}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, file in members:
                _add_member(archive, name, file)
        tmp.replace(dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"could not write {dest}: {exc.strerror or exc}") from exc


def _is_blob(path: Path) -> bool:
    """A KV snapshot whose header and size check out (a damaged one is never exported; doctor reports it)."""
    from ..kvstate.blob import read_blob_meta

    try:
        read_blob_meta(path)
    except KVError:
        return False
    return True


def _add_member(archive: zipfile.ZipFile, name: str, file: Path) -> None:
    try:
        fd = open_regular(file)
    except (FileNotFoundError, UnsafeFile):
        return  # absent, or not the store's own file: never exported
    with os.fdopen(fd, "rb") as source:
        when = datetime.fromtimestamp(max(os.fstat(fd).st_mtime, 315619200)).timetuple()[:6]
        info = zipfile.ZipInfo(name, date_time=when)
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as out:
            while chunk := source.read(_CHUNK):
                out.write(chunk)


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
