"""The autosave timer: calls a function every ``interval()`` seconds on a thread of its own."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("session_manager")


class AutosaveTimer:
    """``tick`` runs every ``interval()`` seconds while ``enabled()``; ``reschedule`` applies a new interval now."""

    def __init__(self, tick: Callable[[], None], interval: Callable[[], float],
                 enabled: Callable[[], bool] = lambda: True) -> None:
        self._tick = tick
        self._interval = interval
        self._enabled = enabled
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="session-manager-autosave", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def reschedule(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval())
            if self._wake.is_set():  # woken early: a new interval, or stop
                self._wake.clear()
                continue
            if self._stop.is_set() or not self._enabled():
                continue
            try:
                self._tick()
            except Exception:  # the timer must survive anything; the tick reports its own failures
                log.exception("autosave failed")
