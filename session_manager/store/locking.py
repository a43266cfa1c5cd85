"""One lock per store, held by whoever changes its structure: threads of this process and other processes.

textgen, a second textgen and the command line may use one store at once. Creating,
renaming, deleting and importing sessions, rewriting session.json and marks.json, and
every write into a session folder happen while holding ``<root>/.lock`` (an OS file lock,
released by the OS if the holder dies), so no process undoes another's delete or rename.
Reads take no lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from ..errors import StorageError, StoreBusy

# Writes under the lock take milliseconds; an import moves its staged folder in one rename.
LOCK_TIMEOUT = 60.0


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
        try:
            self._file.acquire(timeout=timeout, poll_interval=0.005)
        except Timeout as exc:
            raise StoreBusy(self._busy()) from exc
        except OSError as exc:
            raise StorageError(f"cannot lock the store at {self.path.parent} ({exc.strerror or exc}); "
                               "nothing was changed") from exc

    def _busy(self) -> str:
        return (f"the store at {self.path.parent} is busy: another program has been changing it for more than "
                f"{self.timeout:.0f} s; nothing was changed (try again)")
