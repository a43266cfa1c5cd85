"""What an import did, one line per source: taken, updated, skipped (with why) or failed (with why)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Status = Literal["imported", "updated", "skipped", "failed"]
STATUSES: tuple[Status, ...] = ("imported", "updated", "skipped", "failed")

# Progress: (done, total, what is being worked on). Called before each step and once at the end.
Progress = Callable[[int, int, str], None]
PACE_STEPS = 1_000  # steps of one long read (checkpoints of one export) between two progress calls at most
PACE_SECONDS = 1.0  # ... or seconds, when the steps are slow


@dataclass(frozen=True)
class ImportItem:
    """One session (or one source that gave none) and what became of it."""

    source: str  # the file name, and which entry inside it when it holds several
    status: Status
    message: str  # one line a person can act on
    session_id: str | None = None
    name: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"source": self.source, "status": self.status, "message": self.message,
                "session_id": self.session_id, "name": self.name}


@dataclass
class ImportReport:
    items: list[ImportItem] = field(default_factory=list)

    @property
    def taken(self) -> list[ImportItem]:
        """Sessions that are new or got a new checkpoint."""
        return [item for item in self.items if item.status in ("imported", "updated")]

    @property
    def skipped(self) -> list[ImportItem]:
        return [item for item in self.items if item.status == "skipped"]

    @property
    def failed(self) -> list[ImportItem]:
        return [item for item in self.items if item.status == "failed"]

    def add(self, item: ImportItem) -> ImportItem:
        self.items.append(item)
        return item

    def summary(self) -> str:
        """"Imported 3, updated 1, skipped 2, failed 1." (only the non-zero parts)."""
        counts = Counter(item.status for item in self.items)
        parts = [f"{status} {counts[status]}" for status in STATUSES if counts[status]]
        if not parts:
            return "Nothing to import."
        text = ", ".join(parts)
        return text[0].upper() + text[1:] + "."

    def to_dict(self, items: bool = True) -> dict[str, object]:
        counts = Counter(item.status for item in self.items)
        head: dict[str, object] = {"summary": self.summary(), **{status: counts[status] for status in STATUSES}}
        return {**head, "items": [item.to_dict() for item in self.items]} if items else head


def no_progress(done: int, total: int, what: str) -> None:
    """The default progress callback: says nothing."""


class Paced:
    """The progress of one long read, passed on every ``steps`` steps or ``seconds``, whichever comes first:
    a bounded rate, however many steps there are and however slow each one is."""

    def __init__(self, progress: Progress | None, steps: int = PACE_STEPS, seconds: float = PACE_SECONDS) -> None:
        self._progress = progress or no_progress
        self._steps = steps
        self._seconds = seconds
        self._pending = 0
        self._last = time.monotonic()

    def step(self, done: int, total: int, what: Callable[[], str]) -> None:
        """One more step; ``what`` is asked only when the progress is passed on."""
        self._pending += 1
        now = time.monotonic()
        if self._pending >= self._steps or now - self._last >= self._seconds:
            self.now(done, total, what())

    def now(self, done: int, total: int, what: str) -> None:
        """Passed on at once (where the read ends)."""
        self._pending, self._last = 0, time.monotonic()
        self._progress(done, total, what)
