"""How much there is: per session and for the whole store, counted from the index and the folder listing.

Tokens generated and time spent generating come from the generations that ended in a checkpoint
(GenerationStats); words written are those of each session's newest checkpoint; disk use is what
the files take (text: checkpoints, autosaves and the session's own files; KV: the snapshots).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ...store import SessionStore
from ...store.layout import KV
from ...store.summaries import CheckpointSummary


@dataclass
class Stats:
    sessions: int = 0
    checkpoints: int = 0
    autosaves: int = 0
    tokens_generated: int = 0
    seconds_generating: float = 0.0
    words: int = 0
    text_bytes: int = 0
    kv_bytes: int = 0
    kv_snapshots: int = 0
    pinned: int = 0
    models: Counter[str] = field(default_factory=Counter)
    days: Counter[date] = field(default_factory=Counter)  # checkpoints made per (local) day
    first: date | None = None
    last: date | None = None

    def add(self, summaries: list[CheckpointSummary]) -> None:
        """Count one session's checkpoints (newest first, as the store lists them)."""
        self.checkpoints += len(summaries)
        if summaries:
            self.words += summaries[0].words
        for s in summaries:
            self.tokens_generated += s.generation_tokens or 0
            self.seconds_generating += s.generation_seconds or 0.0
            self.kv_bytes += s.kv_bytes
            self.kv_snapshots += int(s.kv_present)
            self.pinned += int(s.pinned)
            if s.model:
                self.models[s.model] += 1
            day = s.created.astimezone().date()
            self.days[day] += 1
            self.first = day if self.first is None or day < self.first else self.first
            self.last = day if self.last is None or day > self.last else self.last

    @property
    def tokens_per_second(self) -> float | None:
        return self.tokens_generated / self.seconds_generating if self.seconds_generating > 0 else None


def session_stats(store: SessionStore, session_id: str) -> Stats:
    stats = Stats(sessions=1)
    stats.add(store.checkpoint_summaries(session_id))
    stats.autosaves = len(store.autosave_ids(session_id))
    stats.text_bytes = text_bytes(store.session_dir(session_id))
    return stats


def store_stats(store: SessionStore) -> Stats:
    """Every listed session (the first look at a session not opened before reads its checkpoints once)."""
    stats = Stats()
    for row in store.list_sessions():
        stats.sessions += 1
        stats.add(store.checkpoint_summaries(row.id))
        stats.autosaves += len(store.autosave_ids(row.id))
        stats.text_bytes += text_bytes(store.session_dir(row.id))
    return stats


def text_bytes(folder: Path) -> int:
    """Bytes of a session's files but its KV snapshots (no link is followed)."""
    total = 0
    for entry in _entries(folder):
        if entry.is_file(follow_symlinks=False):
            total += entry.stat(follow_symlinks=False).st_size
        elif entry.is_dir(follow_symlinks=False) and entry.name != KV:
            total += sum(e.stat(follow_symlinks=False).st_size for e in _entries(Path(entry.path))
                         if e.is_file(follow_symlinks=False))
    return total


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as found:
            return list(found)
    except OSError:
        return []
