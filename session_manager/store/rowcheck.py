"""Whether a session row read from index.sqlite can be handed out: the index is a cache, and a cache
changed by hand or damaged on disk must never turn into a wrong answer or a traceback."""

from __future__ import annotations

from pydantic import ValidationError

from ..models import is_session_id
from .summaries import SessionSummary


def unreadable(rows: list[SessionSummary] | SessionSummary | None) -> list[str]:
    """Ids of the rows that do not validate (their JSON, their counts)."""
    if rows is None:
        return []
    return [row.id for row in (rows if isinstance(rows, list) else [rows]) if not _valid(row)]


def _valid(row: SessionSummary) -> bool:
    if not (is_session_id(row.id) and isinstance(row.meta_json, str) and _count(row.n_checkpoints)
            and _count(row.kv_bytes) and _count(getattr(row, "disk_bytes", 0))):
        return False
    try:
        meta = row.meta  # parsed once and kept: the page shows it next
    except (ValidationError, ValueError, TypeError):
        return False
    return meta.id == row.id


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
