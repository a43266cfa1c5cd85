"""The KV size budget: the oldest .kv blobs go first; nothing else is ever deleted."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

BLOB_SUFFIX = ".kv"


@dataclass(frozen=True)
class BlobFile:
    path: Path
    mtime: float
    size: int


def plan_eviction(blobs: Iterable[BlobFile], budget_bytes: int, keep: Collection[Path] = ()) -> list[BlobFile]:
    """Which blobs to delete, oldest first, so the total fits ``budget_bytes`` (pure: touches no file).

    Only names ending in ``.kv`` count and can be chosen; blobs in ``keep`` are never chosen
    (so the total may stay above budget when the kept ones alone exceed it).
    """
    kept = {Path(p) for p in keep}
    candidates = [b for b in blobs if b.path.name.endswith(BLOB_SUFFIX)]
    total = sum(b.size for b in candidates)
    chosen: list[BlobFile] = []
    for blob in sorted(candidates, key=lambda b: (b.mtime, b.path.name)):
        if total <= budget_bytes:
            break
        if blob.path in kept:
            continue
        chosen.append(blob)
        total -= blob.size
    return chosen


def enforce_budget(blobs: Iterable[Path | BlobFile], budget_bytes: int, keep: Collection[Path] = ()) -> list[Path]:
    """Delete the oldest .kv blobs until the total fits; returns the deleted paths."""
    deleted = []
    for blob in plan_eviction(_stat_all(blobs), budget_bytes, keep):
        with contextlib.suppress(FileNotFoundError):
            blob.path.unlink()
            deleted.append(blob.path)
    return deleted


def scan_blobs(folders: Iterable[Path]) -> list[BlobFile]:
    """Every .kv file directly inside ``folders`` (missing folders are skipped)."""
    found = []
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.name.endswith(BLOB_SUFFIX) and entry.is_file(follow_symlinks=False):
                stat = entry.stat(follow_symlinks=False)
                found.append(BlobFile(Path(entry.path), stat.st_mtime, stat.st_size))
    return found


def _stat_all(blobs: Iterable[Path | BlobFile]) -> list[BlobFile]:
    out = []
    for blob in blobs:
        if isinstance(blob, BlobFile):
            out.append(blob)
            continue
        path = Path(blob)
        if not path.name.endswith(BLOB_SUFFIX):
            continue
        try:
            stat = path.lstat()
        except FileNotFoundError:
            continue
        if not S_ISREG(stat.st_mode):  # a folder or link named *.kv is not ours to delete
            continue
        out.append(BlobFile(path, stat.st_mtime, stat.st_size))
    return out
