"""Numbered upgrades of older files, applied to the parsed JSON before the models validate it.

Each versioned file (session.json, checkpoints, autosave.json, marks.json, settings.json)
carries ``format_version``. ``upgrade`` brings an older document to ``FORMAT_VERSION`` one
step at a time; every step is idempotent (running it on an already upgraded document changes
nothing), so a file upgraded in memory and written back is never upgraded twice. A file from
a newer version raises ``NewerFormat``: readers report it and leave it alone.

A step is registered as ``MIGRATIONS[kind][n]``: it turns a version ``n`` document into a
version ``n + 1`` one. ``kind`` is the model's name ("SessionMeta", "Checkpoint", ...).
Format 1 is the first format, so there is nothing to upgrade yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import NewerFormat

FORMAT_VERSION = 1

Document = dict[str, Any]
Migration = Callable[[Document], Document]

MIGRATIONS: dict[str, dict[int, Migration]] = {}


def upgrade(kind: str, data: Any, *, current: int = FORMAT_VERSION,
            migrations: dict[str, dict[int, Migration]] | None = None) -> Any:
    """``data`` at format ``current``; anything that is not a versioned document is returned as is."""
    if not isinstance(data, dict):
        return data
    version = _whole_number(data.get("format_version", current))
    if version is None:
        raise ValueError(f"format_version {data.get('format_version')!r} is not a whole number")
    data = {**data, "format_version": version}  # "1" and 1.0 read as 1, once and for all
    if version > current:
        raise NewerFormat(version, current)
    steps = (MIGRATIONS if migrations is None else migrations).get(kind, {})
    while version < current:
        step = steps.get(version)
        if step is None:
            raise ValueError(f"format_version {version} is not one this version of Session Manager can upgrade")
        data = {**step(dict(data)), "format_version": version + 1}
        version += 1
    return data


def _whole_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 10:
        return int(value)
    return None


def register(kind: str, from_version: int) -> Callable[[Migration], Migration]:
    """Decorator: ``@register("Checkpoint", 1)`` upgrades format 1 checkpoints to format 2."""

    def add(step: Migration) -> Migration:
        MIGRATIONS.setdefault(kind, {})[from_version] = step
        return step

    return add
