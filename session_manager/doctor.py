"""Verify every file of a store, set broken ones aside, and finish what a crash left half done.

``check_store`` walks the store once and returns a list of ``Finding``: one per thing that
was wrong or worth knowing, each saying what doctor did about it. Broken files go through
``SessionStore.set_aside`` (into <root>/broken/), so nothing is ever deleted except temp
files of interrupted writes and folders that were already being deleted.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from .atomic import write_text_atomic
from .errors import BrokenFile, KVError, NotFound
from .models import Checkpoint, SessionMeta, UserSettingsFile, is_checkpoint_id, is_session_id
from .settings import USER_SETTINGS_NAME
from .store import SessionStore

Severity = Literal["error", "repaired", "info"]

# A temp file younger than this may belong to a write in progress by a running textgen.
TMP_GRACE_SECONDS = 300.0
# Files an operating system drops into folders on its own; never worth a finding.
OS_JUNK = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


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


def check_store(store: SessionStore, *, tmp_grace: float = TMP_GRACE_SECONDS) -> list[Finding]:
    """Check and repair the whole store; safe to run while a host is using it."""
    findings: list[Finding] = []
    findings += _finish_deletions(store)
    findings += _remove_temp_files(store, tmp_grace)
    blob_module, note = _blob_module()
    if note:
        findings.append(Finding("info", store.root, note, "KV snapshots were not checked"))
    for entry in _entries(store.sessions_dir):
        if _is_tmp(entry.name) or entry.name in OS_JUNK:
            continue
        if entry.is_symlink() or not entry.is_dir() or not is_session_id(entry.name):
            findings.append(_set_aside(store, entry, _why_not_a_session(entry)))
            continue
        findings += _check_session(store, entry, blob_module)
    findings += _check_user_settings(store)
    return findings


def has_errors(findings: list[Finding]) -> bool:
    """True when something was broken (and set aside): the CLI's exit status 1."""
    return any(f.severity == "error" for f in findings)


# ----- one session ------------------------------------------------------------------------


def _check_session(store: SessionStore, folder: Path, blob_module: Any) -> list[Finding]:
    findings: list[Finding] = []
    session_id = folder.name
    meta_ok = False
    meta_path = folder / "session.json"
    if meta_path.is_symlink():
        findings.append(_set_aside(store, meta_path, "a symbolic link (the store never writes links)"))
    elif meta_path.exists():
        try:
            store.get_session(session_id)
            meta_ok = True
        except BrokenFile as exc:
            findings.append(_broken(exc))
        except NotFound:
            pass

    checkpoints, cp_findings = _check_checkpoints(store, folder)
    findings += cp_findings
    autosave, autosave_findings = _check_autosave(store, folder)
    findings += autosave_findings
    findings += _check_kv(store, folder, checkpoints, blob_module)
    for name in _entries_names(folder):
        if name in {"session.json", "checkpoints", "autosave.json", "kv"} or _is_tmp(name) or name in OS_JUNK:
            continue
        findings.append(Finding("info", folder / name, "not a file of the store", "left alone"))

    if not meta_ok:
        findings.append(_recover_session(store, folder, checkpoints, autosave, missing=not meta_path.exists()))
    return findings


def _check_checkpoints(store: SessionStore, folder: Path) -> tuple[list[Checkpoint], list[Finding]]:
    session_id = folder.name
    directory = folder / "checkpoints"
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        return [], [_set_aside(store, directory, "the checkpoints folder is not a plain folder")]
    good: list[Checkpoint] = []
    findings: list[Finding] = []
    for entry in _entries(directory):
        name = entry.name
        if _is_tmp(name) or name in OS_JUNK:
            continue
        if entry.is_symlink():
            findings.append(_set_aside(store, entry, "a symbolic link (the store never writes links)"))
        elif not name.endswith(".json") or entry.is_dir():
            findings.append(Finding("info", entry, "not a checkpoint file", "left alone"))
        elif not is_checkpoint_id(name[:-5]):
            findings.append(_set_aside(store, entry, "its file name is not a checkpoint id"))
        else:
            try:
                good.append(store.get_checkpoint(session_id, name[:-5]))
            except BrokenFile as exc:
                findings.append(_broken(exc))
            except NotFound:
                continue
    return good, findings


def _check_autosave(store: SessionStore, folder: Path) -> tuple[Checkpoint | None, list[Finding]]:
    path = folder / "autosave.json"
    if path.is_symlink():
        return None, [_set_aside(store, path, "a symbolic link (the store never writes links)")]
    if not path.exists():
        return None, []
    # read_autosave sets a broken file aside and returns None; the store records it in ``problems``.
    mark = len(store.problems)
    autosave = store.read_autosave(folder.name)
    return autosave, [_broken(problem) for problem in store.problems[mark:]]


def _check_kv(store: SessionStore, folder: Path, checkpoints: list[Checkpoint], blob_module: Any) -> list[Finding]:
    findings: list[Finding] = []
    directory = folder / "kv"
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        findings.append(_set_aside(store, directory, "the kv folder is not a plain folder"))
    referenced = {cp.id: cp for cp in checkpoints if cp.kv is not None}
    for checkpoint in referenced.values():
        blob = store.kv_path(folder.name, checkpoint.id)
        if not blob.exists():
            findings.append(Finding("info", blob, f"checkpoint {checkpoint.id} refers to a KV snapshot that is "
                                    "missing (the size budget may have removed it); its text is intact",
                                    "none needed: a restore re-reads the prompt"))
    if not directory.is_dir() or directory.is_symlink():
        return findings
    known = {cp.id for cp in checkpoints}
    for entry in _entries(directory):
        name = entry.name
        if _is_tmp(name) or name in OS_JUNK:
            continue
        stem = name[:-3] if name.endswith(".kv") else ""
        if entry.is_symlink():
            findings.append(_set_aside(store, entry, "a symbolic link (the store never writes links)"))
            continue
        if not is_checkpoint_id(stem) or entry.is_dir():
            findings.append(Finding("info", entry, "not a KV snapshot file", "left alone"))
            continue
        if blob_module is not None:
            try:
                meta = blob_module.read_blob_meta(entry)
            except KVError as exc:
                findings.append(_set_aside(store, entry, str(exc)))
                continue
            except OSError as exc:
                findings.append(Finding("info", entry, f"could not be read: {exc.strerror or exc}", "left alone"))
                continue
            ref = referenced.get(stem)
            if ref is not None and ref.kv is not None and ref.kv.n_tokens != len(meta.token_ids):
                findings.append(Finding("info", entry, f"its header holds {len(meta.token_ids)} tokens, its "
                                        f"checkpoint says {ref.kv.n_tokens}", "left alone"))
        if stem not in known:
            findings.append(Finding("info", entry, "no checkpoint refers to this KV snapshot",
                                    "left alone (the KV size budget removes the oldest snapshots)"))
    return findings


def _recover_session(store: SessionStore, folder: Path, checkpoints: list[Checkpoint], autosave: Checkpoint | None,
                     missing: bool) -> Finding:
    """A session without a readable session.json is invisible: rebuild it from its checkpoints."""
    meta_path = folder / "session.json"
    states = checkpoints + ([autosave] if autosave is not None else [])
    if states:
        oldest = min(states, key=lambda c: c.created)
        newest = max(states, key=lambda c: c.created)
        name = f"Recovered {oldest.created.astimezone():%Y-%m-%d %H:%M}"
        meta = SessionMeta(id=folder.name, name=name, created=oldest.created, updated=newest.created,
                           mode=newest.mode)
        write_text_atomic(meta_path, meta.model_dump_json(indent=2))
        problem = "session.json was missing" if missing else "session.json was unreadable"
        return Finding("error", meta_path, problem, f"recreated from {len(states)} saved state(s) as {name!r}")
    if not any(p.is_file() or p.is_symlink() for p in folder.rglob("*")):
        shutil.rmtree(folder, ignore_errors=True)
        return Finding("repaired", folder, "an empty session folder (left by an interrupted create)", "removed")
    return _set_aside(store, folder, "no readable session.json and no readable checkpoint")


# ----- store-wide -------------------------------------------------------------------------


def _finish_deletions(store: SessionStore) -> list[Finding]:
    findings = []
    for entry in _entries(store.root):
        if not entry.name.startswith(".deleting-") or entry.is_symlink() or not entry.is_dir():
            continue
        shutil.rmtree(entry, ignore_errors=True)
        if entry.exists():
            findings.append(Finding("error", entry, "a deleted session that could not be removed completely",
                                    "left in place; check its permissions"))
        else:
            findings.append(Finding("repaired", entry, "a session deletion was interrupted", "finished deleting it"))
    return findings


def _remove_temp_files(store: SessionStore, grace: float) -> list[Finding]:
    findings = []
    now = time.time()
    for dirpath, dirnames, filenames in os.walk(store.root):
        here = Path(dirpath)
        if here == store.root:
            # broken/ keeps what the user may want back; .deleting-* was handled above.
            dirnames[:] = [d for d in dirnames if d != store.broken_dir.name and not d.startswith(".deleting-")]
        for name in filenames:
            if not _is_tmp(name):
                continue
            path = here / name
            try:
                age = now - path.lstat().st_mtime
            except OSError:
                continue
            if age < grace:
                findings.append(Finding("info", path, "a temp file of a write that may still be in progress",
                                        "left alone (run doctor again later)"))
                continue
            try:
                path.unlink()
            except OSError as exc:
                findings.append(Finding("info", path, "a temp file left by an interrupted write",
                                        f"could not remove it: {exc.strerror or exc}"))
                continue
            findings.append(Finding("repaired", path, "a temp file left by an interrupted write "
                                    "(the file it was replacing is intact)", "removed"))
    return findings


def _check_user_settings(store: SessionStore) -> list[Finding]:
    path = store.root / USER_SETTINGS_NAME
    if not path.is_file():
        return []
    try:
        UserSettingsFile.model_validate_json(path.read_bytes())
    except (OSError, ValidationError, ValueError) as exc:
        return [_set_aside(store, path, f"your saved settings are unreadable ({exc.__class__.__name__}); "
                                        "defaults are used")]
    return []


# ----- helpers ----------------------------------------------------------------------------


def _blob_module() -> tuple[Any, str]:
    # The blob reader is optional at runtime; without it the JSON files are still checked.
    try:
        from .kvstate import blob
    except ImportError as exc:
        return None, f"the KV snapshot reader is not available ({exc})"
    return blob, ""


def _set_aside(store: SessionStore, path: Path, reason: str) -> Finding:
    return _broken(store.set_aside(path, reason))


def _broken(problem: BrokenFile) -> Finding:
    action = f"moved to {problem.moved_to}" if problem.moved_to else "could not be moved; it was left in place"
    return Finding("error", problem.path, problem.reason, action, problem.moved_to)


def _why_not_a_session(entry: Path) -> str:
    if entry.is_symlink():
        return "a symbolic link in the sessions folder (the store never writes links)"
    if not entry.is_dir():
        return "a stray file in the sessions folder"
    return "a folder whose name is not a session id"


def _is_tmp(name: str) -> bool:
    # Atomic writes name their temp files ".<target>.<random>.tmp".
    return name.startswith(".") and name.endswith(".tmp")


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(Path(e.path) for e in os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _entries_names(folder: Path) -> list[str]:
    return [p.name for p in _entries(folder)]
