"""The one way times are shown to people: local time, in three lengths."""

from __future__ import annotations

from datetime import datetime


def clock(when: datetime | None = None) -> str:
    """13:45:07: for status lines about something that just happened."""
    return _local(when).strftime("%H:%M:%S")


def short(when: datetime) -> str:
    """11-23 13:45:07: for pickers, where the year is noise."""
    return _local(when).strftime("%m-%d %H:%M:%S")


def full(when: datetime, seconds: bool = True) -> str:
    """2026-11-23 13:45:07 (or without seconds): for tables, documents and messages."""
    local = _local(when)
    return f"{local.year:04d}-" + local.strftime("%m-%d %H:%M:%S" if seconds else "%m-%d %H:%M")  # %Y: "1", not "0001"


def _local(when: datetime | None) -> datetime:
    if when is None:
        return datetime.now().astimezone()
    try:
        return when.astimezone()
    except (OverflowError, ValueError, OSError):  # a stamp at the edge of the calendar: show it as stored
        return when
