"""What an import did, one line per source: taken, updated, skipped (with why) or failed (with why)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Status = Literal["imported", "updated", "skipped", "failed"]
STATUSES: tuple[Status, ...] = ("imported", "updated", "skipped", "failed")

# Progress: (done, total, what is being worked on). Called before each step and once at the end.
Progress = Callable[[int, int, str], None]


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
