"""Bringing sessions in: tell each file's format by its content, read it, add each session once.

Every session goes into the store through ``SessionStore.add_bundle`` (all of it or nothing). A
session whose origin is already in the store is not added again: when it is the present state of
a chat or prompt that changed since, its new state is added to that session as a checkpoint.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import logging
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Literal

from ..errors import ImportFailed, NotFound, NothingToImport, SessionManagerError
from ..models import HostLink, SessionMeta, is_session_id
from ..store import SessionStore
from ..store.bundle import SessionBundle
from . import session_archive
from .bulk import ORIGIN_PREFIX, is_bulk_archive, read_bulk
from .common import Source
from .legacy import looks_like_legacy, read_legacy
from .openwebui import looks_like_open_webui, read_open_webui
from .report import ImportItem, ImportReport, Progress, no_progress
from .sillytavern import looks_like_sillytavern, read_sillytavern
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
            jobs += _jobs_of(path)
        except ImportFailed as exc:
            report.add(ImportItem(path.name or str(path), "failed", str(exc)))
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
    if suffix != ".jsonl" and not _several_json_lines(source):
        return _json_format(source.name, source.json)
    first = source.jsonl[0][1]
    if looks_like_sillytavern(first):
        return "sillytavern"
    if training_format_of(first) is not None:
        return "training"
    raise ImportFailed(f"{source.name} {_UNKNOWN}")


def _run(store: SessionStore, jobs: list[Job], report: ImportReport, progress: Progress | None) -> ImportReport:
    progress = progress or no_progress
    links = _LinkIndex(store)
    for done, (path, where) in enumerate(jobs):
        progress(done, len(jobs), path.name)
        try:
            _import_file(store, path, where, report, links)
        except NothingToImport as exc:
            report.add(ImportItem(where.label if where else path.name, "skipped", str(exc)))
        except SessionManagerError as exc:
            report.add(ImportItem(where.label if where else path.name, "failed", str(exc)))
        except Exception as exc:  # a reader's own bug must not stop the other files
            log.exception("importing %s failed", path)
            report.add(ImportItem(where.label if where else path.name, "failed",
                                  f"{path.name} could not be read ({type(exc).__name__}: {exc})"))
    progress(len(jobs), len(jobs), "")
    return report


def _import_file(store: SessionStore, path: Path, where: TextgenFile | None, report: ImportReport,
                 links: _LinkIndex) -> None:
    source = None if path.suffix.lower() == ".zip" else Source(path)
    fmt = detect_format(path, source)
    if fmt == "session-manager":
        meta = session_archive.import_file(store, path)
        report.add(ImportItem(path.name, "imported", f"{path.name} -> {meta.name!r}", meta.id, meta.name))
        return
    if fmt != "session-manager-archive":
        _take(store, _bundles(fmt, source, where), report, links)
        return
    # KV blobs are unpacked inside the store (the same disk as their destination); a crash leaves only
    # ".tmp" files there, which doctor removes.
    with tempfile.TemporaryDirectory(prefix=".import-", dir=store.root) as work:
        _take(store, read_bulk(path, Path(work)), report, links)


def _take(store: SessionStore, results: Iterable[tuple[str, SessionBundle | ImportFailed]], report: ImportReport,
          links: _LinkIndex) -> None:
    for label, result in results:
        if isinstance(result, NothingToImport):
            report.add(ImportItem(label, "skipped", str(result)))
        elif isinstance(result, ImportFailed):
            report.add(ImportItem(label, "failed", str(result)))
        else:
            _add(store, label, result, report, links)


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
        yield from read_training(source, from_array=fmt == "training-array")


def _add(store: SessionStore, label: str, bundle: SessionBundle, report: ImportReport, links: _LinkIndex) -> None:
    try:
        existing = _existing(store, bundle.meta.origin)
        if existing is not None:
            added = _merge(store, existing, bundle)
            if added:
                report.add(ImportItem(label, "updated", f"{label}: added its new state to {existing.name!r}",
                                      existing.id, existing.name))
            else:
                report.add(ImportItem(label, "skipped", f"{label} was already imported as {existing.name!r}",
                                      existing.id, existing.name))
            return
        follower = links.get(bundle.meta.link)
        if follower is not None:
            report.add(ImportItem(label, "skipped", f"{label} is already followed by the session {follower.name!r}",
                                  follower.id, follower.name))
            return
        meta = store.add_bundle(bundle)
    except SessionManagerError as exc:
        report.add(ImportItem(label, "failed", f"{label}: {exc}"))
        return
    links.add(meta)
    report.add(ImportItem(label, "imported", f"{label} -> {meta.name!r}", meta.id, meta.name))


def _existing(store: SessionStore, origin: str | None) -> SessionMeta | None:
    if not origin:
        return None
    found = store.find_by_origin(origin)
    source_id = origin[len(ORIGIN_PREFIX):] if origin.startswith(ORIGIN_PREFIX) else ""
    if found is None and is_session_id(source_id):
        with contextlib.suppress(NotFound):
            found = store.get_session(source_id)  # the very session this archive was made from
    return found


def _merge(store: SessionStore, existing: SessionMeta, bundle: SessionBundle) -> int:
    """The new present state of a chat or prompt file goes into its session; a whole session is never merged."""
    if len(bundle.checkpoints) != 1:
        return 0
    checkpoint = bundle.checkpoints[0]
    if checkpoint.same_content(store.latest_state(existing.id)):
        return 0
    store.add_checkpoint(existing.id, checkpoint.model_copy(update={"kv": None}))
    return 1


class _LinkIndex:
    """Sessions that already follow a textgen prompt or chat (made by the extension, not by an import)."""

    def __init__(self, store: SessionStore) -> None:
        self._store = store
        self._by_link: dict[tuple[str, str, str | None], SessionMeta] | None = None

    def get(self, link: HostLink | None) -> SessionMeta | None:
        if link is None:
            return None
        if self._by_link is None:
            self._by_link = {}
            for row in self._store.list_sessions():
                self.add(row.meta)
        return self._by_link.get(_link_key(link))

    def add(self, meta: SessionMeta) -> None:
        if self._by_link is not None and meta.link is not None:
            self._by_link.setdefault(_link_key(meta.link), meta)


def _link_key(link: HostLink) -> tuple[str, str, str | None]:
    return link.kind, link.name, link.character


def _jobs_of(path: Path) -> list[Job]:
    if not path.exists():
        raise ImportFailed(f"{path} does not exist")
    if not path.is_dir():
        return [(path, textgen_file_of(path))]
    if textgen_logs_dir(path) is not None:
        return [(found.path, found) for found in find_textgen_work(path)]
    with_names = sorted((p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")),
                        key=lambda p: p.name)
    if len(with_names) > MAX_FOLDER_FILES:
        raise ImportFailed(f"{path} holds more than {MAX_FOLDER_FILES} files; import a part of them")
    return [(p, textgen_file_of(p)) for p in with_names]


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
    """JSONL without the .jsonl name: its first two lines are JSON each (a pretty-printed file's are not)."""
    lines = list(itertools.islice((line for line in io.StringIO(source.text) if line.strip()), 2))
    if len(lines) < 2:
        return False
    try:
        return all(isinstance(json.loads(line), dict) for line in lines)
    except ValueError:
        return False
