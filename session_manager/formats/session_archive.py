"""One session out and back in: Session Manager's own zip and JSON, and Markdown and JSONL to read or train on.

Formats: ``zip`` (the session folder with its KV snapshots; imports back whole), ``json``
(session and checkpoints in one file; imports back), ``markdown`` (readable text) and
``jsonl`` (prompt/completion pairs for training).

An import always creates a new session, all of it or nothing: its checkpoints are read one at a
time (a .json export through json_stream.py) and written into a scratch folder by a SessionWriter,
which the store moves into place whole (``SessionStore.add_written``); memory stays that of one
checkpoint (each at most ``json_entry_bytes``), however many checkpoints there are.
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
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import IO, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ..atomic import UnsafeFile, open_regular, write_text_atomic
from ..choices import ExportFormat
from ..errors import AlreadyImported, BrokenFile, ImportFailed, KVError, NewerFormat, SessionManagerError, StorageError
from ..limits import MAX_CHECKPOINT_ENTRY_BYTES
from ..models import Checkpoint, SessionMarks, SessionMeta
from ..store import SessionStore
from ..store.files import describe_invalid
from ..store.layout import (
    AUTOSAVE_FILE,
    CHECKPOINTS,
    KV,
    MARKS_FILE,
    MAX_SESSION_BYTES,
    SESSION_FILE,
    checkpoint_id_of,
    kv_id_of,
)
from ..store.session_writer import SessionWriter
from .common import MAX_FILE_BYTES
from .json_stream import JsonStream, read_object
from .report import Paced, Progress

ORIGIN_PREFIX = "session-manager:"  # a session exported from a store, by its id there (formats/bulk.py too)
M = TypeVar("M", bound=BaseModel)
SUFFIX = {"zip": ".zip", "json": ".json", "markdown": ".md", "jsonl": ".jsonl"}
EXPORT_VERSION = 1
# Import limits (ImportLimits overrides them): far above any real export, far below a full disk.
MAX_IMPORT_BYTES = 8 << 30  # everything a zip unpacks to
# One session.json / checkpoint / autosave / marks file, or one such value of a .json export: its text may take
# four times its bytes in memory (one emoji makes Python hold every character in 4 bytes), read and parsed.
# A save of a larger checkpoint is refused (store/entry_size.py): what the store holds imports back.
MAX_JSON_ENTRY_BYTES = MAX_CHECKPOINT_ENTRY_BYTES
MAX_IMPORT_ENTRIES = 100_000  # a session of 50,000 checkpoints, each with a KV snapshot
MAX_JSON_EXPORT_BYTES = MAX_FILE_BYTES  # a single-file JSON export: 256 MB, as any file read
MAX_IMPORT_CHECKPOINTS = 100_000  # checkpoints of one imported session (each costs a file and its id in memory)
_CHUNK = 1 << 20
_TOO_LARGE = " (a checkpoint this large cannot be imported; export the session as Markdown to keep its text)"
_COMPRESSIONS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
# The session already imported from an origin (this file's), if any: an import of it is then refused.
Known = Callable[[str | None], SessionMeta | None]


@dataclass(frozen=True)
class ImportLimits:
    total_bytes: int = MAX_IMPORT_BYTES
    json_entry_bytes: int = MAX_JSON_ENTRY_BYTES
    entries: int = MAX_IMPORT_ENTRIES
    json_file_bytes: int = MAX_JSON_EXPORT_BYTES
    checkpoints: int = MAX_IMPORT_CHECKPOINTS


class SessionExport(BaseModel):
    """The single-file JSON export."""

    model_config = ConfigDict(defer_build=True)

    session_manager_export: int = EXPORT_VERSION
    session: SessionMeta
    checkpoints: list[Checkpoint]  # empty when read by import_file: it takes them one by one
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


def import_file(store: SessionStore, path: Path, limits: ImportLimits | None = None, progress: Progress | None = None,
                known: Known | None = None) -> SessionMeta:
    """Import a .zip or .json export as a new session; ImportFailed (and nothing written) when it cannot.

    ``progress`` hears how far the reading has come (bytes of a .json, entries of a .zip) at a bounded rate.
    With ``known``, a file whose session was imported before is refused with AlreadyImported.
    """
    path = Path(path)
    limits = limits or ImportLimits()
    _check_input(path)
    paced = Paced(progress)
    try:
        if path.suffix.lower() == ".zip":
            if known is not None:
                _refuse_known(path, _zip_session(path), known)
            return _import_zip(store, path, limits, paced)
        return _import_json(store, path, limits, paced, known)
    except NewerFormat as exc:
        raise ImportFailed(f"{path.name} was written by a newer Session Manager (format {exc.found}; this version "
                           f"reads up to {exc.supported}): update Session Manager to import it") from exc


def export_origin(session: object) -> str | None:
    """Where the session of an export (its session.json, as read) came from: its origin, else the id it had
    in the store it left; None when it says neither (its import then fails with the reason)."""
    if not isinstance(session, dict):
        return None
    origin, session_id = session.get("origin"), session.get("id")
    if isinstance(origin, str) and origin:
        return origin
    return f"{ORIGIN_PREFIX}{session_id}" if isinstance(session_id, str) and session_id else None


def _refuse_known(path: Path, session: object, known: Known) -> None:
    existing = known(export_origin(session))
    if existing is not None:
        raise AlreadyImported(f"{path.name} was already imported as {existing.name!r}", existing.id, existing.name)


def _zip_session(path: Path) -> object:
    """The zip's session.json as read, or None (a broken file is refused with its reason by the import)."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(SESSION_FILE)
            return json.loads(archive.read(info)) if info.file_size <= MAX_SESSION_BYTES else None
    except Exception:  # noqa: BLE001 - zipfile, zlib and json fail in many ways on a hostile archive
        return None


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


def _import_json(store: SessionStore, path: Path, limits: ImportLimits, paced: Paced,
                 known: Known | None) -> SessionMeta:
    """Checkpoint by checkpoint into the new session's folder: memory for one checkpoint, not for the file.

    Whether the session was imported before is asked as soon as it is read, before or after the checkpoints
    (a file edited by hand may hold them in any order): the scratch folder then goes, and nothing was imported.
    """
    with _opened_json(path, limits) as handle, store.scratch() as scratch:
        size = os.fstat(handle.fileno()).st_size
        stream = JsonStream(handle, path.name, limits.json_entry_bytes)
        writer = SessionWriter(scratch / "session", store.files.report, limits.checkpoints, path.name)
        count = [0]

        def take(raw: object) -> None:
            count[0] += 1
            writer.add(_parse_value(path, f"checkpoint {count[0]:,}", Checkpoint, raw))
            paced.step(stream.bytes_read, size, lambda: _read_line(count[0], path))

        seen: dict[str, Callable[[object], None]] | None = \
            {"session": partial(_refuse_known, path, known=known)} if known is not None else None
        fields = read_object(stream, {"checkpoints": take}, seen=seen)
        paced.now(size, size, _read_line(count[0], path))
        doc = _parse_value(path, "the export", SessionExport, fields)
        _check_export_version(path, doc.session_manager_export)
        return _add_written(store, writer, doc.session, doc.autosave, doc.marks)


@contextmanager
def _opened_json(path: Path, limits: ImportLimits) -> Iterator[IO[bytes]]:
    try:
        handle = os.fdopen(open_regular(path.resolve()), "rb")
    except (OSError, UnsafeFile) as exc:
        raise ImportFailed(f"cannot read {path.name}: {getattr(exc, 'strerror', None) or exc}") from exc
    with handle:
        if os.fstat(handle.fileno()).st_size > limits.json_file_bytes:
            raise ImportFailed(f"{path.name} is larger than {limits.json_file_bytes:,} bytes; nothing was imported "
                               "(export large sessions as .zip)")
        yield handle


def _parse_value(path: Path, name: str, model_type: type[M], data: object) -> M:
    try:
        return model_type.model_validate(data)
    except ValidationError as exc:
        raise ImportFailed(f"{path.name} is not a Session Manager export ({name}: {describe_invalid(exc)}); "
                           "nothing was imported") from exc


def _read_line(count: int, path: Path) -> str:
    return f"{count:,} checkpoints read from {path.name}"


def _import_zip(store: SessionStore, path: Path, limits: ImportLimits, paced: Paced) -> SessionMeta:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = _checked_entries(path, archive, limits)
            with store.scratch() as scratch:
                writer = SessionWriter(scratch / "session", store.files.report, limits.checkpoints, path.name)
                meta, autosave, marks = _unpack(path, archive, infos, scratch, writer, limits, store.files.report,
                                                paced)
                return _add_written(store, writer, meta, autosave, marks)
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
                               f"allowed; nothing was imported{_TOO_LARGE if limit < limits.total_bytes else ''}")
        declared += info.file_size
        if declared > limits.total_bytes:
            raise ImportFailed(f"{path.name} unpacks to more than {limits.total_bytes:,} bytes; nothing was imported")
    if SESSION_FILE not in seen:
        raise ImportFailed(f"{path.name} has no session.json; is it a Session Manager export?")
    return infos


def _unpack(path: Path, archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], scratch: Path, writer: SessionWriter,
            limits: ImportLimits, store_report: Callable[[BrokenFile], None], paced: Paced
            ) -> tuple[SessionMeta, Checkpoint | None, SessionMarks | None]:
    """KV snapshots unpacked to ``scratch`` first, then each checkpoint read and handed to ``writer`` in turn.

    The progress counts entries: the KV snapshots, then the checkpoints."""
    meta: SessionMeta | None = None
    autosave: Checkpoint | None = None
    marks: SessionMarks | None = None
    blobs: dict[str, Path] = {}
    budget = _Budget(path.name, limits.total_bytes)
    listed = [info for info in infos if info.filename.partition("/")[0] == CHECKPOINTS]
    before = len(infos) - len(listed)  # entries read before the checkpoints
    for done, info in enumerate(infos, 1):
        name = info.filename
        folder, _, file = name.partition("/")
        if folder == KV:
            blob = _unpack_blob(store_report, archive, info, scratch / file, budget)
            if blob is not None:
                blobs[kv_id_of(file) or ""] = blob
            paced.step(done, len(infos), lambda: f"{len(blobs):,} KV snapshots unpacked from {path.name}")
        elif name == SESSION_FILE:
            meta = _parse(path, name, SessionMeta, _entry(archive, info, budget))
        elif name == AUTOSAVE_FILE:
            autosave = _parse(path, name, Checkpoint, _entry(archive, info, budget))
        elif name == MARKS_FILE:
            marks = _parse(path, name, SessionMarks, _entry(archive, info, budget))
    for done, info in enumerate(listed, before + 1):
        checkpoint = _parse(path, info.filename, Checkpoint, _entry(archive, info, budget))
        if checkpoint.id != checkpoint_id_of(info.filename.partition("/")[2]):
            raise ImportFailed(f"{path.name}: {info.filename} holds checkpoint {checkpoint.id}; nothing was imported")
        writer.add(checkpoint, blobs.pop(checkpoint.id, None))
        paced.step(done, len(infos), lambda: _read_line(len(writer.seen), path))
    paced.now(len(infos), len(infos), _read_line(len(listed), path))
    assert meta is not None  # _checked_entries made sure
    return meta, autosave, marks


def _entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget) -> bytes:
    with archive.open(info) as source:
        return b"".join(_chunks(source, info, budget))


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
            read_stream_header(info.filename, head, info.file_size)
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

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.seen = b""

    def read(self, size: int) -> bytes:
        data = self.source.read(size)
        self.seen += data
        return data


def _chunks(source: IO[bytes], info: zipfile.ZipInfo, budget: _Budget, already: int = 0) -> Iterator[bytes]:
    """The entry's bytes, never more than it declared (zipfile checks the CRC at the end)."""
    read = already
    while chunk := source.read(_CHUNK):
        read += len(chunk)
        if read > info.file_size:
            raise ImportFailed(f"{info.filename} unpacks to more than the {info.file_size:,} bytes it declares; "
                               "nothing was imported")
        budget.spend(info.filename, len(chunk))
        yield chunk


def _parse(path: Path, name: str, model_type: type[M], data: bytes) -> M:
    try:
        return model_type.model_validate_json(data)
    except ValidationError as exc:
        raise ImportFailed(f"{path.name}: {name} is broken ({describe_invalid(exc)}); nothing was imported") from exc


def _add_written(store: SessionStore, writer: SessionWriter, meta: SessionMeta, autosave: Checkpoint | None,
                 marks: SessionMarks | None) -> SessionMeta:
    meta = _imported_meta(store, meta)
    try:
        return store.add_written(writer, writer.finish(meta, autosave, marks))
    except StorageError as exc:
        raise ImportFailed(f"nothing was imported: {exc}") from exc


def _imported_meta(store: SessionStore, meta: SessionMeta) -> SessionMeta:
    # The origin lets a second import of this file find the session instead of copying it.
    meta = meta.model_copy(update={"tags": sorted({*meta.tags, "imported"}),
                                   "origin": meta.origin or f"{ORIGIN_PREFIX}{meta.id}"})
    if meta.link is not None and store.find_by_link(meta.link) is not None:
        meta = meta.model_copy(update={"link": None})  # that prompt or chat already has its session here
    return meta


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
