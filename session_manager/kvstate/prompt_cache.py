"""A KV prompt cache on disk: snapshots of recent prompts, found again by model and tokens.

    <root>/prompt-cache/<fingerprint digest>/<token digest>.kv     one blob each (kvstate.blob's format)

An entry is named by the sha256 of the token ids it holds, in a folder per model fingerprint (model
file, context size, KV type, flash attention, sliding-window cache, llama.cpp build): the same tokens
saved twice are one file, and only entries made under the running engine's settings are ever
considered. A restore still compares the whole fingerprint and the token prefix (check_restorable), and
the backend verifies every checksum before llama.cpp sees a byte (once per file: kvstate/checked.py).
The folder has its own disk budget; the least recently used entries go first (a restore counts as a
use). Nothing here is a session: the store never lists, exports or indexes this folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..atomic import fsync_dir
from ..errors import KVError
from ..models import ModelFingerprint, is_checkpoint_id, new_checkpoint_id
from . import KVBackend, PrefixMatch, RestoreOutcome, match_prefix
from .blob import read_blob_meta, verify_blob
from .checked import CHECKED

FOLDER = "prompt-cache"
SUFFIX = ".kv"
ENTRY_NAME = re.compile(r"^[0-9a-f]{32}\.kv$")
# An entry being written is named like a checkpoint's blob (what the backend writes): its own name is known only
# once the engine has said which tokens it holds.
SUPERSEDE_SLACK = 32  # tokens at the end of an older entry that a newer one may differ in and still replace it
MAX_REMEMBERED = 4096  # entry headers kept in memory (their token lists), so a lookup reads no file twice
STALE_NEW_S = 3600  # a half-written entry this old was left by a crash (another process may be writing its own)


@dataclass(frozen=True)
class CacheEntry:
    path: Path
    token_ids: tuple[int, ...]
    size: int
    used: float  # when it was written or last restored (its mtime)


@dataclass(frozen=True)
class Candidate:
    entry: CacheEntry
    match: PrefixMatch


class PromptCache:
    """The entries under ``<root>/prompt-cache``; ``budget_bytes`` 0 keeps nothing."""

    def __init__(self, root: Path, budget_bytes: int) -> None:
        self.folder = Path(root) / FOLDER
        self.budget_bytes = budget_bytes
        self._tokens: dict[tuple[str, int, int], tuple[int, ...]] = {}  # headers already read
        self._lock = threading.Lock()

    def entries(self, fingerprint: ModelFingerprint) -> list[CacheEntry]:
        """This fingerprint's entries, newest use first; a damaged one is removed (a cache, cheap to redo)."""
        found = []
        for path in self._files(self._model_folder(fingerprint)):
            try:
                found.append(self._entry(path))
            except KVError:
                _remove(path)
            except OSError:
                continue  # removed by another process meanwhile
        return sorted(found, key=lambda e: e.used, reverse=True)

    def best(self, fingerprint: ModelFingerprint, prompt_tokens: Sequence[int],
             rewind_limit: int | None) -> Candidate | None:
        """The entry sharing the longest usable prefix with ``prompt_tokens`` (the newest among equals)."""
        best: Candidate | None = None
        for entry in self.entries(fingerprint):
            match = match_prefix(entry.token_ids, prompt_tokens)
            if match.fits(rewind_limit) and (best is None or match.shared > best.match.shared):
                best = Candidate(entry, match)
        return best

    def save(self, backend: KVBackend, rewind_limit: int | None) -> CacheEntry:
        """Snapshot the engine's cache as an entry; older entries it holds in full go, then the budget applies."""
        fingerprint = backend.fingerprint()
        folder = self._model_folder(fingerprint)
        folder.mkdir(parents=True, exist_ok=True)
        temp = folder / f"{new_checkpoint_id()}{SUFFIX}"
        try:
            backend.snapshot(temp)
            tokens = tuple(read_blob_meta(temp).token_ids)
            final = folder / f"{_token_digest(tokens)}{SUFFIX}"
            CHECKED.replace(temp, final)
        finally:
            _remove(temp)
        fsync_dir(folder)
        entry = self._entry(final)
        self._drop_superseded(fingerprint, entry, rewind_limit)
        self.evict()
        return entry

    def restore(self, backend: KVBackend, entry: CacheEntry, prompt_tokens: Sequence[int]) -> RestoreOutcome:
        """Load ``entry`` into the engine; a damaged entry is removed and reported as not restored."""
        try:
            outcome = backend.restore(entry.path, prompt_tokens)
        except KVError:
            if _damaged(entry.path):
                _remove(entry.path)
            raise
        if outcome.restored:
            with contextlib.suppress(OSError):
                CHECKED.touch(entry.path)  # recently used: the last to be evicted
        return outcome

    def evict(self) -> list[Path]:
        """Remove the least recently used entries (of every model) until the folder fits its budget."""
        with self._lock:
            files = []
            for folder in self._model_folders():
                self._sweep_stale(folder)
                for path in self._files(folder):
                    with contextlib.suppress(OSError):
                        info = path.stat()
                        files.append((info.st_mtime, info.st_size, path))
            total = sum(size for _, size, _ in files)
            removed = []
            for _, size, path in sorted(files):
                if total <= self.budget_bytes:
                    break
                _remove(path)
                total -= size
                removed.append(path)
            return removed

    def check_recent(self, max_bytes: int) -> int:
        """Check every byte of the most recently used entries (of every model), up to ``max_bytes`` in all, so
        that the first restore after a start copies its entry without hashing it while a client waits (see
        checked.py). A damaged entry is removed. Returns how many entries were checked."""
        recent = []
        for folder in self._model_folders():
            for path in self._files(folder):
                with contextlib.suppress(OSError):
                    info = path.stat()
                    recent.append((info.st_mtime, info.st_size, path))
        checked = total = 0
        for _, size, path in sorted(recent, reverse=True):
            total += size
            if total > max_bytes:
                break
            try:
                verify_blob(path)
                checked += 1
            except KVError:
                _remove(path)
        return checked

    def total_bytes(self) -> int:
        return sum(path.stat().st_size for folder in self._model_folders() for path in self._files(folder))

    # ----- helpers --------------------------------------------------------------------------

    def _model_folder(self, fingerprint: ModelFingerprint) -> Path:
        return self.folder / fingerprint.digest()

    def _model_folders(self) -> list[Path]:
        if not self.folder.is_dir() or self.folder.is_symlink():
            return []
        return [p for p in self.folder.iterdir() if p.is_dir() and not p.is_symlink()]

    def _files(self, folder: Path) -> list[Path]:
        if not folder.is_dir() or folder.is_symlink():
            return []
        return [p for p in folder.iterdir() if ENTRY_NAME.match(p.name) and p.is_file() and not p.is_symlink()]

    def _entry(self, path: Path) -> CacheEntry:
        info = path.stat()
        key = (path.name, info.st_size, info.st_ino)
        tokens = self._tokens.get(key)
        if tokens is None:
            tokens = tuple(read_blob_meta(path).token_ids)
            if path.stem != _token_digest(tokens):
                raise KVError(f"the prompt cache entry {path.name} does not hold the tokens its name says")
            if len(self._tokens) >= MAX_REMEMBERED:
                self._tokens.clear()
            self._tokens[key] = tokens
        return CacheEntry(path, tokens, info.st_size, info.st_mtime)

    def _drop_superseded(self, fingerprint: ModelFingerprint, newest: CacheEntry, rewind_limit: int | None) -> None:
        """An entry that the newest one continues serves nothing the newest does not (within the engine's rewind
        limit): a conversation keeps its latest turn, not one file per turn. "Continues" allows the last few
        tokens to differ: a client sends the reply back as text, which does not always tokenize as generated."""
        for entry in self.entries(fingerprint):
            if entry.path == newest.path:
                continue
            match = match_prefix(entry.token_ids, newest.token_ids)
            if match.saved - match.shared <= SUPERSEDE_SLACK and 2 * match.shared >= match.saved and (
                    rewind_limit is None or len(newest.token_ids) - match.shared <= rewind_limit):
                _remove(entry.path)

    def _sweep_stale(self, folder: Path) -> None:
        cutoff = time.time() - STALE_NEW_S
        for path in folder.glob(f"*{SUFFIX}"):
            with contextlib.suppress(OSError):
                if is_checkpoint_id(path.stem) and path.is_file() and not path.is_symlink() \
                        and path.stat().st_mtime < cutoff:
                    path.unlink()


def _token_digest(tokens: Sequence[int]) -> str:
    return hashlib.sha256(struct.pack(f"<{len(tokens)}I", *tokens)).hexdigest()[:32]


def _damaged(path: Path) -> bool:
    try:
        verify_blob(path)
    except KVError:
        return True
    return False


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
