"""Which files of a folder an import reads (textgen's folders are walked by textgen.py).

SillyTavern keeps one folder per character, ``data/<user>/chats/<character>/<chat>.jsonl``, and its
group chats in ``data/<user>/group chats/<id>.jsonl``. A SillyTavern user folder, given or found
below the one given, gives those two trees only (not its backups, settings or world files); any
other folder gives its own files and the ``.jsonl`` chats in its subfolders (``chats/`` itself).
Links are not followed and hidden files are left alone.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ImportFailed

ST_TREES = ("chats", "group chats")
_DEPTH = 4  # data/<user>/chats/<character>/<chat>.jsonl seen from data/


def folder_files(folder: Path, limit: int) -> list[Path]:
    """The files to try, in a stable order; ImportFailed when there are more than ``limit``."""
    found: list[Path] = []
    if not _user_trees(folder, 0, found, limit):
        _walk(folder, 0, found, limit, own_files=True)
    return found


def _user_trees(folder: Path, depth: int, found: list[Path], limit: int) -> bool:
    """A SillyTavern user folder gives its chat trees only (not its backups, settings or worlds)."""
    trees = [folder / name for name in ST_TREES if _is_dir(folder / name)]
    for tree in trees:
        _walk(tree, depth + 1, found, limit, own_files=False)
    return bool(trees)


def _walk(folder: Path, depth: int, found: list[Path], limit: int, own_files: bool) -> None:
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_file(follow_symlinks=False) and (own_files or entry.name.endswith(".jsonl")):
            found.append(Path(entry.path))
            if len(found) > limit:
                raise ImportFailed(f"{folder} holds more than {limit:,} files; import a part of them")
        elif (entry.is_dir(follow_symlinks=False) and depth < _DEPTH
              and not _user_trees(Path(entry.path), depth + 1, found, limit)):
            _walk(Path(entry.path), depth + 1, found, limit, own_files=False)


def _is_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()
