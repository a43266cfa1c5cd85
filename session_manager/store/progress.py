"""How far a whole-store job (rebuilding the index, comparing every folder) has come, for a terminal's
progress bar or a line in the panel; and the thread that runs such a job beside a host's answers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Listener = Callable[[int, int, str], None]  # (done, total, what)


class Progress:
    """The index's whole-store work in this process: ``running`` while a background job goes on."""

    def __init__(self) -> None:
        self.done = 0
        self.total = 0
        self.what = ""
        self.running = False
        self.listeners: list[Listener] = []
        self._thread: threading.Thread | None = None

    def start(self, job: Callable[[], object], then: Callable[[], None]) -> None:
        """Run ``job`` in a thread of its own; ``then`` once it has finished without an error."""
        self.running = True

        def run() -> None:
            try:
                job()
                then()
            except Exception:  # noqa: BLE001 - the answers go on from the index as it is; the next look retries
                log.exception("indexing the store in the background failed")
            finally:
                self.running = False
                self.step(self.total, self.total, "")

        self._thread = threading.Thread(target=run, name="session-manager-index", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background job (tests, a clean exit); True when none is running."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

    def step(self, done: int, total: int, what: str = "sessions indexed") -> None:
        self.done, self.total, self.what = done, total, what
        for listener in list(self.listeners):
            listener(done, total, what)

    def line(self) -> str:
        """What the panel says while the index catches up ("" when it has)."""
        if not self.running or not self.total:
            return ""
        return f"Indexing the store: {self.done:,} of {self.total:,} sessions (the list fills as it goes)"
