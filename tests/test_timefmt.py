"""Times as people read them: local time, in three lengths, and stamps at the calendar's edge as stored."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

import pytest

from session_manager.timefmt import clock, full, short


@pytest.fixture
def in_tokyo():
    """Local time nine hours ahead of UTC, so a test sees that times are shown in local time."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"
    time.tzset()
    yield
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_the_three_lengths_in_local_time(in_tokyo) -> None:
    when = datetime(2026, 11, 23, 13, 45, 7, tzinfo=timezone.utc)
    assert clock(when) == "22:45:07"
    assert short(when) == "11-23 22:45:07"
    assert full(when) == "2026-11-23 22:45:07"
    assert full(when, seconds=False) == "2026-11-23 22:45"
    assert full(when + timedelta(hours=2)) == "2026-11-24 00:45:07"  # the local date, not UTC's


def test_a_stamp_at_the_edge_of_the_calendar_is_shown_as_stored(in_tokyo) -> None:
    edge = datetime(1, 1, 1, 0, 0, 0, tzinfo=timezone(timedelta(hours=14)))
    assert full(edge) == "0001-01-01 00:00:00"
