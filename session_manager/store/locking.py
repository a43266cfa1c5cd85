"""One lock per store, held by whoever changes its structure: threads of this process and other processes.

textgen, a second textgen and the command line may use one store at once. Creating,
renaming, deleting and importing sessions, rewriting session.json and marks.json, and
every write into a session folder happen while holding ``<root>/.lock`` (an OS file lock,
released by the OS if the holder dies), so no process undoes another's delete or rename.
Reads take no lock.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from ..errors import StorageError, StoreBusy

# Writes under the lock take milliseconds; an import moves its staged folder in one rename.
LOCK_TIMEOUT = 60.0
WAIT_NOTICE_AFTER = 1.0  # seconds of waiting before a person is told why nothing happens
HOLDER_SUFFIX = ".holder"  # <root>/.lock.holder: the pid and command of the last process that took the lock
_notices: list[Callable[[str], None]] = []


def on_wait(notice: Callable[[str], None] | None) -> None:
    """Who hears that a writer waits for another process's lock (the command line prints it on stderr)."""
    _notices.clear()
    if notice is not None:
        _notices.append(notice)


class StoreLock:
    """Re-entrant within a thread, exclusive across threads and processes."""

    def __init__(self, path: Path, timeout: float = LOCK_TIMEOUT) -> None:
        self.path = path
        self.timeout = timeout
        self._file = FileLock(str(path), timeout=timeout, thread_local=False)
        self._threads = threading.RLock()
        self._depth = 0

    @contextmanager
    def hold(self, timeout: float | None = None) -> Iterator[None]:
        """Hold the lock; StoreBusy after ``timeout`` seconds (default: the lock's own)."""
        wait = self.timeout if timeout is None else timeout
        if not self._threads.acquire(timeout=wait):
            raise StoreBusy(self._busy())
        try:
            if self._depth == 0:
                self._acquire_file(wait)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._file.release()
        finally:
            self._threads.release()

    @contextmanager
    def attempt(self, timeout: float) -> Iterator[bool]:
        """Hold the lock if it can be had within ``timeout`` (True), else go on without it (False).

        For work that is safe either way but better serialised, such as reading files into the index
        (a store on a read-only disk cannot even create the lock file, and has no writers to wait for).
        """
        with ExitStack() as stack:
            try:
                stack.enter_context(self.hold(timeout))
            except StorageError:
                yield False
                return
            yield True

    def _acquire_file(self, timeout: float) -> None:
        first = min(timeout, WAIT_NOTICE_AFTER) if _notices else timeout
        try:
            if not self._try(first):
                if timeout <= first:
                    raise StoreBusy(self._busy())
                for notice in _notices:
                    notice(self.waiting_message(timeout))
                if not self._try(timeout - first):
                    raise StoreBusy(self._busy())
        except OSError as exc:
            raise StorageError(f"cannot lock the store at {self.path.parent} ({exc.strerror or exc}); "
                               "nothing was changed") from exc
        self._write_holder()

    def _try(self, timeout: float) -> bool:
        try:
            self._file.acquire(timeout=timeout, poll_interval=0.005)
        except Timeout:
            return False
        return True

    def waiting_message(self, timeout: float) -> str:
        """Which process holds the store, as far as its holder file tells."""
        who = "another program"
        with contextlib.suppress(OSError, ValueError):
            pid, _, command = self.holder_path.read_text(encoding="utf-8")[:500].strip().partition(" ")
            if int(pid) != os.getpid():
                who = f"process {int(pid)}" + (f" ({command})" if command else "")
        return (f"waiting for the store at {self.path.parent}: {who} is changing it (waiting up to "
                f"{timeout:.0f} s)")

    @property
    def holder_path(self) -> Path:
        return self.path.with_name(self.path.name + HOLDER_SUFFIX)

    def _write_holder(self) -> None:
        """Say who holds the lock, for a process that has to wait for it; a read-only store just says nothing."""
        command = " ".join(Path(arg).name if i == 0 else arg for i, arg in enumerate(sys.argv[:3]))
        with contextlib.suppress(OSError):
            self.holder_path.write_text(f"{os.getpid()} {command[:200]}\n", encoding="utf-8")

    def _busy(self) -> str:
        return (f"the store at {self.path.parent} is busy: another program has been changing it for more than "
                f"{self.timeout:.0f} s; nothing was changed (try again)")
