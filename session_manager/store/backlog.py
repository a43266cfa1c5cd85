"""The sessions one process must look at again before its next answer: what the folder watch saw
change, and what a write could not put in the index because another process kept it busy."""

from __future__ import annotations

import threading
from collections.abc import Iterable


class Backlog:
    """Session ids waiting for a look, taken all at once by the next answer (thread-safe, never held long)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._stale: set[str] = set()  # read again before the next answer
        self._suspect: set[str] = set()  # compared with their folders before the next answer
        self._rewritten: set[str] = set()  # a checkpoint changed in place: its rows are read again

    def stale(self, session_ids: Iterable[str]) -> None:
        """Read these sessions again before the next answer."""
        with self._guard:
            self._stale.update(session_ids)

    def seen(self, session_id: str, rewritten: bool) -> None:
        """The folder watch saw a change: a file rewritten in place is read again whatever the times say."""
        with self._guard:
            (self._stale if rewritten else self._suspect).add(session_id)
            if rewritten:
                self._rewritten.add(session_id)

    def take(self) -> tuple[list[str], list[str], list[str]]:
        """Empty the backlog: (stale, suspect, rewritten); a session both stale and suspect is only stale."""
        with self._guard:
            stale, self._stale = list(self._stale), set()
            suspect, self._suspect = list(self._suspect - set(stale)), set()
            rewritten, self._rewritten = list(self._rewritten), set()
        return stale, suspect, rewritten
