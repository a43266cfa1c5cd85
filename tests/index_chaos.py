"""Run a test module twice: with the index as it is, and with index.sqlite deleted before every store call.

The index is a cache: every answer must be the same without it (issue 11). A module opts in with
``from index_chaos import index_mode  # noqa: F401`` (the fixture is autouse).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from session_manager.store import SessionStore

MODES = ["index kept", "index deleted before every call"]


def _delete_index_first(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: SessionStore, *args: Any, **kwargs: Any) -> Any:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.layout.index}{suffix}")
        return method(self, *args, **kwargs)

    return wrapper


@pytest.fixture(params=MODES, autouse=True)
def index_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == MODES[1]:
        for name in dir(SessionStore):
            if not name.startswith("_") and callable(getattr(SessionStore, name)):
                monkeypatch.setattr(SessionStore, name, _delete_index_first(getattr(SessionStore, name)))
    yield request.param
