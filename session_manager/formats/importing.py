"""Bringing sessions in: tell each file's format by its content, read it, add each session once.

Every session goes into the store through ``SessionStore.add_bundle`` (all of it or nothing). A
session whose origin is already in the store is not added again: when it is the present state of
a chat or prompt that changed since, its new state is added to that session as a checkpoint.
"""

from __future__ import annotations

import logging
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal

from ..errors import AlreadyImported, ImportFailed, NothingToImport, SessionManagerError
from ..store import SessionStore
from ..store.bundle import SessionBundle
from . import session_archive
from .adding import Adder, existing_session
from .bulk import is_bulk_archive, read_bulk
from .common import Source
from .folders import folder_files
from .legacy import looks_like_legacy, read_legacy
from .openwebui import looks_like_open_webui, read_open_webui
from .report import ImportItem, ImportReport, Progress, no_progress
from .sillytavern import looks_like_sillytavern, looks_like_sillytavern_message, read_sillytavern
from .textgen import (
    TextgenFile,
    find_textgen_work,
    looks_like_textgen_chat,
    read_textgen,
    textgen_file_of,
    textgen_logs_dir,
)
from .training_in import looks_like_training, read_training, training_format_of

SourceFormat = Literal["session-manager", "session-manager-archive", "legacy", "textgen", "sillytavern",
                       "open-webui", "training", "training-array"]
MAX_FOLDER_FILES = 100_000
log = logging.getLogger(__name__)
_UNKNOWN = ("is not a format Session Manager reads (its own exports, the original session_manager extension's "
            "sessions, textgen prompts and chats, SillyTavern chats, Open WebUI exports, training JSONL)")
Job = tuple[Path, TextgenFile | None]


def import_paths(store: SessionStore, paths: Sequence[Path], progress: Progress | None = None) -> ImportReport:
    """Import files and folders: a textgen folder gives its saved work, any other folder its files."""
    report = ImportReport()
    jobs: list[Job] = []
    for path in map(Path, paths):
        try:
            found = _jobs_of(path)
        except ImportFailed as exc:
            report.add(ImportItem(path.name or str(path), "failed", str(exc)))
            continue
        if not found:
            report.add(ImportItem(path.name or str(path), "failed", f"{path} holds no file Session Manager reads "
                                  "(chats, prompts, exports or training files); nothing was imported"))
        jobs += found
    return _run(store, jobs, report, progress)


def import_textgen_work(store: SessionStore, user_data_dir: Path, progress: Progress | None = None) -> ImportReport:
    """textgen's prompt files and chat histories, one session each; a second run adds no copies."""
    report = ImportReport()
    try:
        jobs: list[Job] = [(found.path, found) for found in find_textgen_work(Path(user_data_dir))]
    except ImportFailed as exc:
        report.add(ImportItem(str(user_data_dir), "failed", str(exc)))
        return report
    return _run(store, jobs, report, progress)


def detect_format(path: Path, source: Source | None = None) -> SourceFormat:
    """The format of a file by its content (and for .txt and .zip, its name)."""
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return _zip_format(path)
    source = source or Source(path)
    if suffix == ".txt":
        return "textgen"
    if b'"session_manager_export"' in source.head:  # this tool's JSON export, read by transfer within its limits
        return "session-manager"
    if suffix != ".jsonl" and not _several_json_lines(source):
        return _json_format(source.name, source.json)
    first_rows = source.first_rows(1)
    if not first_rows:
        next(source.rows())  # the reason: empty, not UTF-8 or not JSON on its first line
    first = first_rows[0]
    if looks_like_sillytavern(first) or looks_like_sillytavern_message(first):
        return "sillytavern"
    if training_format_of(first) is not None:
        return "training"
    raise ImportFailed(f"{source.name} {_UNKNOWN}")


def _run(store: SessionStore, jobs: list[Job], report: ImportReport, progress: Progress | None) -> ImportReport:
    progress = progress or no_progress
    adder = Adder(store, report)
    for done, (path, where) in enumerate(jobs):
        progress(done, len(jobs), path.name)
        # One large file alone: its sessions (or checkpoints) are the steps; among many files, each file is one.
        inner = progress if len(jobs) == 1 else None
        try:
            _import_file(store, path, where, adder, inner)
        except NothingToImport as exc:
            report.add(ImportItem(where.label if where else path.name, "skipped", str(exc)))
        except SessionManagerError as exc:
            report.add(ImportItem(where.label if where else path.name, "failed", str(exc)))
        except Exception:  # a reader's own bug must not stop the other files, nor print a traceback
            log.debug("importing %s failed", path, exc_info=True)
            label = where.label if where else path.name
            report.add(ImportItem(label, "failed", f"{label} holds a value of a kind this reader does not expect; "
                                  "nothing was imported from it (please report the file's shape)"))
    progress(len(jobs), len(jobs), "")
    return report


def _import_file(store: SessionStore, path: Path, where: TextgenFile | None, adder: Adder,
                 progress: Progress | None) -> None:
    source = None if path.suffix.lower() == ".zip" else Source(path, where.label if where else None)
    fmt = detect_format(path, source)
    if fmt == "session-manager":
        _import_export(store, path, adder.report, progress)
        return
    if fmt in ("training", "training-array"):
        assert source is not None
        # A first reading checks every line, so that a bad line at the end leaves nothing imported.
        total = sum(1 for _ in read_training(source, from_array=fmt == "training-array"))
        source.dropped.clear()
        step = _sessions_progress(progress, path.name, total) if progress else None
        adder.take(read_training(source, from_array=fmt == "training-array"), source.dropped, step)
        return
    if fmt != "session-manager-archive":
        adder.take(_bundles(fmt, source, where), source.dropped if source else [])
        return
    # KV blobs are unpacked inside the store (the same disk as their destination); a crash leaves only
    # ".tmp" files there, which doctor removes.
    with tempfile.TemporaryDirectory(prefix=".import-", dir=store.root) as work:
        adder.take(read_bulk(path, Path(work)), batch_size=1)  # its KV blobs are unpacked one session at a time


def _sessions_progress(progress: Progress, name: str, total: int) -> Callable[[int], None]:
    return lambda done: progress(done, total, f"{name}: {done:,} of {total:,} sessions")


def _import_export(store: SessionStore, path: Path, report: ImportReport, progress: Progress | None) -> None:
    """One session exported by this tool (.json or .zip): a second import finds the first instead of copying."""
    try:
        meta = session_archive.import_file(store, path, progress=progress,
                                           known=lambda origin: existing_session(store, origin))
    except AlreadyImported as exc:
        report.add(ImportItem(path.name, "skipped", str(exc), exc.session_id, exc.name))
        return
    report.add(ImportItem(path.name, "imported", f"{path.name} -> {meta.name!r}", meta.id, meta.name))


def _bundles(fmt: SourceFormat, source: Source | None,
             where: TextgenFile | None) -> Iterator[tuple[str, SessionBundle | ImportFailed]]:
    assert source is not None  # only archives are read without a Source
    label = where.label if where is not None else source.name
    if fmt == "legacy":
        yield label, read_legacy(source)
    elif fmt == "textgen":
        yield label, read_textgen(source, where)
    elif fmt == "sillytavern":
        yield label, read_sillytavern(source)
    elif fmt == "open-webui":
        yield from read_open_webui(source)
    else:
        raise AssertionError(f"{fmt} is read by _import_file")


def _jobs_of(path: Path) -> list[Job]:
    if not path.exists():
        raise ImportFailed(f"{path} does not exist")
    if not path.is_dir():
        return [(path, textgen_file_of(path))]
    if textgen_logs_dir(path) is not None:
        return [(found.path, found) for found in find_textgen_work(path)]
    return [(p, textgen_file_of(p)) for p in folder_files(path, MAX_FOLDER_FILES)]


def _zip_format(path: Path) -> SourceFormat:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile) as exc:
        raise ImportFailed(f"{path.name} is not a readable zip file ({exc})") from exc
    if is_bulk_archive(names):
        return "session-manager-archive"
    if "session.json" in names:
        return "session-manager"
    raise ImportFailed(f"{path.name} is not a Session Manager archive (no session.json or manifest.json)")


def _json_format(name: str, data: object) -> SourceFormat:
    if data is None:  # textgen leaves such chat files after a crash (its issues #6171, #7656)
        raise NothingToImport(f"{name} holds only null (a chat file left empty by a crash)")
    if data == []:
        raise NothingToImport(f"{name} holds no chats (an empty export)")
    if isinstance(data, dict) and "session_manager_export" in data:
        return "session-manager"
    if looks_like_textgen_chat(data):
        return "textgen"
    if looks_like_open_webui(data):
        return "open-webui"
    if looks_like_training(data):
        return "training-array"
    if isinstance(data, dict) and (not data or looks_like_legacy(data)):
        return "legacy"
    raise ImportFailed(f"{name} {_UNKNOWN}")


def _several_json_lines(source: Source) -> bool:
    """JSONL without the .jsonl name: its first two lines are JSON objects each (a pretty-printed file's are not)."""
    rows = source.first_rows(2)
    return len(rows) == 2 and all(isinstance(row, dict) for row in rows)
