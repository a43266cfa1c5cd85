"""Generations in flight, each watched by a short-lived thread until it has been saved."""

from __future__ import annotations

import gc
import inspect
import logging
import sys
import threading
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Any, Generic, TypeVar

from ...recording.page_mirror import Page
from ...recording.recorder import Recorder

log = logging.getLogger("session_manager")
T = TypeVar("T")


def textgen_frame(function: str) -> FrameType | None:
    """The nearest frame up the stack of textgen's generator ``function`` (one with a ``for_ui`` local)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == function and "for_ui" in frame.f_locals:
            return frame
        frame = frame.f_back
    return None


def generator_of(frame: FrameType) -> Any:
    """The generator object running ``frame`` (a few milliseconds: the interpreter's objects are scanned)."""
    for referrer in gc.get_referrers(frame):
        if inspect.isgenerator(referrer) and referrer.gi_frame is frame:
            return referrer
    return None


def ending_of(frame: FrameType) -> Callable[[], bool] | None:
    """Whether the generator running ``frame`` has ended (returned, closed, or dropped: Gradio drops the
    generator of a closed tab, and only then does Python close it), without keeping that generator alive: a
    watcher holding it would keep such a reply running forever, and textgen's generation lock with it."""
    generator = generator_of(frame)
    if generator is None:
        return None
    held = weakref.ref(generator)

    def ended() -> bool:
        alive = held()
        return alive is None or alive.gi_frame is None

    return ended


class Watches(Generic[T]):
    """Keyed by the generation (textgen's generator frame, or its stream), so overlapping generations never mix."""

    def __init__(self, name: str, save: Callable[[T], None], page_of: Callable[[T], Page], failed: str,
                 recorder: Recorder) -> None:
        self._name = name
        self._recorder = recorder
        self._save = save
        self._page_of = page_of
        self._failed = failed
        self._running: dict[int, T] = {}
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def start(self, key: object, item: T) -> None:
        self._recorder.generation_began(self._page_of(item))  # the autosave timer leaves it to this watch's save
        thread = threading.Thread(target=self._run, args=(key, item), name=self._name, daemon=True)
        with self._lock:
            self._running[id(key)] = item
            self._threads.add(thread)
        thread.start()

    def get(self, key: object) -> T | None:
        with self._lock:
            return self._running.get(id(key))

    def items(self) -> list[T]:
        """The generations watched now (not yet saved, or being saved)."""
        with self._lock:
            return list(self._running.values())

    def wait(self, timeout: float = 60) -> None:
        """Until every watched generation has been saved (shutdown, tests)."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    def _run(self, key: object, item: T) -> None:
        try:
            self._save(item)
        except Exception as exc:  # a background save must never take textgen down
            log.exception(self._failed)
            self._page_of(item).notify(f"Warning: {self._failed}: {exc}")
        finally:
            self._recorder.generation_ended(self._page_of(item))
            with self._lock:
                self._running.pop(id(key), None)
                self._threads.discard(threading.current_thread())
