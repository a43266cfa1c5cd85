"""Verify every file of a store, set broken ones aside, and finish what a crash left half done.

``check_store`` walks the store once and returns a list of ``Finding``: one per thing that
was wrong or worth knowing, each saying what doctor did about it. Broken files go through
``SessionStore.set_aside`` (into <root>/broken/), so nothing is ever deleted except temp
files and staging folders of interrupted writes and folders that were already being deleted.

Doctor never follows a link (a link is set aside itself, never what it points to), refuses
special files before opening them, leaves files of a newer Session Manager exactly where they
are, and never stops at a file it does not understand: every session is checked on its own.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from ..atomic import file_kind
from ..errors import BrokenFile, KVError, NewerFormat, NotFound
from ..models import Checkpoint, SessionMarks, SessionMeta, UserSettingsFile, is_session_id
from .indexaudit import IndexAudit
from .layout import (
    AUTOSAVE_FILE,
    AUTOSAVES,
    CHECKPOINTS,
    DELETING,
    KV,
    MARKS_FILE,
    MAX_CHECKPOINT_BYTES,
    MAX_MARKS_BYTES,
    MAX_SETTINGS_BYTES,
    SESSION_ENTRIES,
    SESSION_FILE,
    SETTINGS_FILE,
    STAGING,
    checkpoint_id_of,
    is_real_dir,
    is_temp_name,
    kv_id_of,
)
from .progress import Listener
from .session_store import SessionStore

Severity = Literal["error", "repaired", "info"]

# A temp file younger than this may belong to a write in progress by a running textgen.
TMP_GRACE_SECONDS = 300.0
# Files an operating system drops into folders on its own; never worth a finding.
OS_JUNK = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
# Sessions the index was wrong about that doctor names one by one (the others are counted).
MAX_INDEX_FINDINGS = 20
_LINK = "a symbolic link (the store never writes links; what it points to was not touched)"

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Finding:
    """One thing doctor found: ``error`` (a file was broken), ``repaired`` or ``info``."""

    severity: Severity
    path: Path
    problem: str
    action: str = ""
    moved_to: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "path": str(self.path), "problem": self.problem,
                "action": self.action, "moved_to": str(self.moved_to) if self.moved_to else None}


def check_store(store: SessionStore, *, tmp_grace: float = TMP_GRACE_SECONDS, deep: bool = True,
                progress: Listener | None = None) -> list[Finding]:
    """Check and repair the whole store; safe to run while a host is using it.

    ``deep`` reads every byte of every KV snapshot (header checksum, size, state checksum);
    without it only their headers are checked.
    """
    findings: list[Finding] = []
    findings += _finish_deletions(store)
    findings += _remove_leftovers(store, tmp_grace)
    findings += _check_sessions_folder(store)
    blob_module, note = _blob_module()
    audit = store.upkeep.index_audit()
    already = len(store.problems)
    if note:
        findings.append(Finding("info", store.root, note, "KV snapshots were not checked"))
    entries = _entries(store.layout.sessions)
    for done, entry in enumerate(entries, 1):
        if progress is not None:
            progress(done, len(entries), entry.name)
        if is_temp_name(entry.name) or entry.name in OS_JUNK:
            continue
        if not is_session_id(entry.name) or not is_real_dir(entry):
            findings.append(_set_aside(store, entry, _why_not_a_session(entry)))
            continue
        check = _SessionCheck(store, entry, blob_module, deep)
        try:
            findings += check.run()
            audit.check(entry.name, check.checkpoints)
        except Exception as exc:  # noqa: BLE001 - one session doctor cannot understand never stops the others
            findings.append(Finding("error", entry, f"doctor could not check this session ({exc.__class__.__name__}: "
                                    f"{exc})", "left as it is"))
    findings += _check_user_settings(store)
    store.refresh()
    findings += _index_findings(store, audit)
    findings += [_problem(p) for p in store.problems if p.path == store.layout.index]
    # A file the index's own reading set aside during this run (before doctor reached its session).
    named = {f.path for f in findings}
    findings += [_read_problem(p) for p in store.problems[already:] if p.path not in named
                 and p.path != store.layout.index]
    return findings


def _index_findings(store: SessionStore, audit: IndexAudit) -> list[Finding]:
    """What the index held that the files did not say (each such session was read again)."""
    found = [Finding("repaired", store.layout.index, f"the index was wrong about session {sid}: {why}",
                     "read again from its files") for sid, why in audit.repaired[:MAX_INDEX_FINDINGS]]
    if len(audit.repaired) > MAX_INDEX_FINDINGS:
        found.append(Finding("repaired", store.layout.index, f"and about {len(audit.repaired) - MAX_INDEX_FINDINGS} "
                             "more sessions", "read again from their files"))
    why = audit.search_table_ok()
    if why:
        found.append(Finding("repaired", store.layout.index, f"its search table was damaged ({why})",
                             "rebuilt from the files"))
    return found


def has_errors(findings: list[Finding]) -> bool:
    """True when something was broken (and set aside): the CLI's exit status 1."""
    return any(f.severity == "error" for f in findings)


# ----- one session ------------------------------------------------------------------------


class _SessionCheck:
    def __init__(self, store: SessionStore, folder: Path, blob_module: Any, deep: bool) -> None:
        self.store = store
        self.folder = folder
        self.session_id = folder.name
        self.blob_module = blob_module
        self.deep = deep
        self.findings: list[Finding] = []
        self.checkpoints: list[Checkpoint] | None = None  # the readable ones, once run

    def run(self) -> list[Finding]:
        meta_state = self._check_meta()
        checkpoints = self.checkpoints = self._check_checkpoints(CHECKPOINTS, "not a checkpoint file")
        self._check_checkpoints(AUTOSAVES, "not an autosave file")
        autosave = self._check_autosave()
        self._check_marks()
        self._check_kv(checkpoints)
        for entry in _entries(self.folder):
            if entry.name not in SESSION_ENTRIES and not is_temp_name(entry.name) and entry.name not in OS_JUNK:
                self.findings.append(Finding("info", entry, "not a file of the store", "left alone"))
        if meta_state == "missing":
            self.findings.append(_recover_session(self.store, self.folder, checkpoints, autosave))
        return self.findings

    def _check_meta(self) -> str:
        """"ok", "newer" (left alone) or "missing" (absent or set aside: rebuild it)."""
        try:
            self.store.get_session(self.session_id)
            return "ok"
        except NewerFormat as exc:
            self.findings.append(_newer(exc))
            return "newer"
        except BrokenFile as exc:
            self.findings.append(_broken(exc))
            return "missing" if exc.moved_to is not None else "left"
        except NotFound:
            return "missing"

    def _check_checkpoints(self, folder: str, stray: str) -> list[Checkpoint]:
        """The checkpoints (or the autosave history) of the session: <checkpoint-id>.json files."""
        directory = self.folder / folder
        if not self._plain_folder(directory, f"the {folder} folder"):
            return []
        good: list[Checkpoint] = []
        for entry in self._own_entries(directory):
            checkpoint_id = checkpoint_id_of(entry.name)
            if not entry.name.endswith(".json") or is_real_dir(entry):
                self.findings.append(Finding("info", entry, stray, "left alone"))
            elif checkpoint_id is None:
                self.findings.append(_set_aside(self.store, entry, "its file name is not a checkpoint id"))
            else:
                checkpoint = self._read(entry, Checkpoint, MAX_CHECKPOINT_BYTES, checkpoint_id)
                if checkpoint is not None:
                    good.append(checkpoint)
        return good

    def _check_autosave(self) -> Checkpoint | None:
        return self._read(self.folder / AUTOSAVE_FILE, Checkpoint, MAX_CHECKPOINT_BYTES)

    def _check_marks(self) -> None:
        self._read(self.folder / MARKS_FILE, SessionMarks, MAX_MARKS_BYTES)

    def _check_kv(self, checkpoints: list[Checkpoint]) -> None:
        directory = self.folder / KV
        referenced = {cp.id: cp for cp in checkpoints if cp.kv is not None}
        for checkpoint in referenced.values():
            blob = self.store.kv_path(self.session_id, checkpoint.id)
            if not os.path.lexists(blob):
                self.findings.append(Finding("info", blob, f"checkpoint {checkpoint.id} refers to a KV snapshot that "
                                             "is missing (the size budget may have removed it); its text is intact",
                                             "none needed: a restore re-reads the prompt"))
        if not self._plain_folder(directory, "the kv folder"):
            return
        known = {cp.id for cp in checkpoints}
        for entry in self._own_entries(directory):
            checkpoint_id = kv_id_of(entry.name)
            if checkpoint_id is None or is_real_dir(entry):
                self.findings.append(Finding("info", entry, "not a KV snapshot file", "left alone"))
            else:
                self._check_blob(entry, referenced.get(checkpoint_id))
                if checkpoint_id not in known:
                    self.findings.append(Finding("info", entry, "no checkpoint refers to this KV snapshot",
                                                 "left alone (the KV size budget removes the oldest snapshots)"))

    def _check_blob(self, path: Path, checkpoint: Checkpoint | None) -> None:
        if self.blob_module is None:
            return
        try:
            meta = self.blob_module.verify_blob(path) if self.deep else self.blob_module.read_blob_meta(path)
        except KVError as exc:
            self.findings.append(_set_aside(self.store, path, str(exc)))
            return
        if checkpoint is not None and checkpoint.kv is not None and checkpoint.kv.n_tokens != len(meta.token_ids):
            self.findings.append(Finding("info", path, f"its header holds {len(meta.token_ids)} tokens, its "
                                         f"checkpoint says {checkpoint.kv.n_tokens}", "left alone"))

    def _own_entries(self, directory: Path) -> Iterator[Path]:
        """A folder's entries but temp files and OS junk; a link is set aside here (never followed)."""
        for entry in _entries(directory):
            if is_temp_name(entry.name) or entry.name in OS_JUNK:
                continue
            if entry.is_symlink():
                self.findings.append(_set_aside(self.store, entry, _LINK))
                continue
            yield entry

    def _plain_folder(self, directory: Path, what: str) -> bool:
        """True when ``directory`` is a real folder; a link or a file in its place is set aside."""
        if not os.path.lexists(directory):
            return False
        if is_real_dir(directory):
            return True
        kind = file_kind(os.lstat(directory).st_mode)
        self.findings.append(_set_aside(self.store, directory, f"{what} is {kind}, not a folder"))
        return False

    def _read(self, path: Path, model_type: type[M], limit: int, expected_id: str | None = None) -> M | None:
        try:
            return self.store.files.read(path, model_type, limit, expected_id=expected_id)
        except NotFound:
            return None
        except NewerFormat as exc:
            self.findings.append(_newer(exc))
        except BrokenFile as exc:
            self.findings.append(_broken(exc))
        return None


def _recover_session(store: SessionStore, folder: Path, checkpoints: list[Checkpoint],
                     autosave: Checkpoint | None) -> Finding:
    """A session without a readable session.json is invisible: rebuild it from its checkpoints."""
    meta_path = folder / SESSION_FILE
    states = checkpoints + ([autosave] if autosave is not None else [])
    if states:
        oldest = min(states, key=lambda c: c.created)
        newest = max(states, key=lambda c: c.created)
        name = f"Recovered {oldest.created.astimezone():%Y-%m-%d %H:%M}"
        meta = SessionMeta(id=folder.name, name=name, created=oldest.created, updated=newest.created,
                           mode=newest.mode)
        with store.locked():
            if os.path.lexists(meta_path):
                return Finding("info", meta_path, "session.json came back while doctor ran", "left alone")
            store.files.write(meta_path, meta)
        return Finding("error", meta_path, "session.json was missing or unreadable",
                       f"recreated from {len(states)} saved state(s) as {name!r}")
    if _holds_no_file(folder):
        shutil.rmtree(folder, ignore_errors=True)
        return Finding("repaired", folder, "an empty session folder (left by an interrupted create)", "removed")
    return _set_aside(store, folder, "no readable session.json and no readable checkpoint")


# ----- store-wide -------------------------------------------------------------------------


def _check_sessions_folder(store: SessionStore) -> list[Finding]:
    folder = store.layout.sessions
    if not os.path.lexists(folder) or is_real_dir(folder):
        return []
    finding = _set_aside(store, folder, f"the sessions folder is {file_kind(os.lstat(folder).st_mode)}")
    if finding.moved_to is not None:
        folder.mkdir(exist_ok=True)
    return [finding]


def _finish_deletions(store: SessionStore) -> list[Finding]:
    findings = []
    for entry in _entries(store.root):
        if not entry.name.startswith(DELETING) or not is_real_dir(entry):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        if os.path.lexists(entry):
            findings.append(Finding("error", entry, "a deleted session that could not be removed completely",
                                    "left in place; check its permissions"))
        else:
            findings.append(Finding("repaired", entry, "a session deletion was interrupted", "finished deleting it"))
    return findings


def _remove_leftovers(store: SessionStore, grace: float) -> list[Finding]:
    """Temp files of interrupted writes and staging folders of interrupted imports, once they are old."""
    findings = []
    now = time.time()
    for entry in _entries(store.root):
        if entry.name.startswith(STAGING) and is_real_dir(entry):
            if now - _newest_time(entry) < grace:
                findings.append(Finding("info", entry, "a session being put together (an import may be running)",
                                        "left alone (run doctor again later)"))
                continue
            shutil.rmtree(entry, ignore_errors=True)
            findings.append(Finding("repaired", entry, "an interrupted import or new session", "removed"))
    for dirpath, dirnames, filenames in os.walk(store.root):  # os.walk never follows links
        here = Path(dirpath)
        if here == store.root:
            skipped = store.layout.broken.name
            dirnames[:] = [d for d in dirnames if d != skipped and not d.startswith((DELETING, STAGING))]
        for name in filenames:
            if is_temp_name(name):
                findings += _remove_temp_file(here / name, now, grace)
    return findings


def _remove_temp_file(path: Path, now: float, grace: float) -> list[Finding]:
    try:
        info = os.lstat(path)
    except OSError:
        return []
    if stat.S_ISDIR(info.st_mode):
        return []
    if now - info.st_mtime < grace:
        return [Finding("info", path, "a temp file of a write that may still be in progress",
                        "left alone (run doctor again later)")]
    try:
        path.unlink()
    except OSError as exc:
        return [Finding("info", path, "a temp file left by an interrupted write",
                        f"could not remove it: {exc.strerror or exc}")]
    return [Finding("repaired", path, "a temp file left by an interrupted write (the file it was replacing is "
                    "intact)", "removed")]


def _check_user_settings(store: SessionStore) -> list[Finding]:
    path = store.root / SETTINGS_FILE
    if not os.path.lexists(path):
        return []
    try:
        store.files.read(path, UserSettingsFile, MAX_SETTINGS_BYTES)
    except NewerFormat as exc:
        return [_newer(exc)]
    except BrokenFile as exc:
        problem = BrokenFile(exc.path, f"your saved settings are unreadable ({exc.reason}); defaults are used",
                             exc.moved_to)
        return [_broken(problem)]
    except NotFound:
        return []
    return []


# ----- helpers ----------------------------------------------------------------------------


def _blob_module() -> tuple[Any, str]:
    # The blob reader is optional at runtime; without it the JSON files are still checked.
    try:
        from ..kvstate import blob
    except ImportError as exc:
        return None, f"the KV snapshot reader is not available ({exc})"
    return blob, ""


def _set_aside(store: SessionStore, path: Path, reason: str) -> Finding:
    return _broken(store.set_aside(path, reason))


def _broken(problem: BrokenFile) -> Finding:
    action = f"moved to {problem.moved_to}" if problem.moved_to else "could not be moved; it was left in place"
    return Finding("error", problem.path, problem.reason, action, problem.moved_to)


def _newer(problem: NewerFormat) -> Finding:
    return Finding("info", problem.path or Path("."), "written by a newer Session Manager "
                   f"(format {problem.found}; this version reads up to {problem.supported})",
                   "left as it is: update Session Manager to use it")


def _problem(problem: Any) -> Finding:
    return Finding("repaired", problem.path, getattr(problem, "reason", str(problem)), "rebuilt from the files")


def _read_problem(problem: Any) -> Finding:
    return _newer(problem) if isinstance(problem, NewerFormat) else _broken(problem)


def _why_not_a_session(entry: Path) -> str:
    if is_real_dir(entry):
        return "a folder whose name is not a session id"
    mode = os.lstat(entry).st_mode
    kind = "file" if stat.S_ISREG(mode) else file_kind(mode)
    return f"a stray {kind} in the sessions folder" if kind == "file" else f"{kind} in the sessions folder"


def _holds_no_file(folder: Path) -> bool:
    return all(not filenames for _, _, filenames in os.walk(folder))


def _newest_time(folder: Path) -> float:
    newest = os.lstat(folder).st_mtime
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            try:
                newest = max(newest, os.lstat(os.path.join(dirpath, name)).st_mtime)
            except OSError:
                continue
    return newest


def _entries(folder: Path) -> list[Path]:
    if not is_real_dir(folder):
        return []
    try:
        return sorted(Path(e.path) for e in os.scandir(folder))
    except OSError:
        return []
