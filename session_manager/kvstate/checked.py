"""Blobs whose every byte this process has checked (or written), for as long as each stays the same file.

A restore hands the engine a copy of a blob's state only once its sha256 matches: for a 3,000-token
conversation of a small model that is ~50 MB hashed while the user waits for the first token. A blob
this process wrote or checked earlier need not be hashed again while it is still the same file: same
device and inode, same size, same modification and change times (a change time cannot be set back by
hand; a rename changes it too, so renames go through ``replace``). A file changed in place gets new
times and is checked again. Some filesystems keep times in coarse steps, so a change made within the
same step would keep them: a file is remembered only once both times are a few seconds old, or when
this process has just set its mtime itself, to the nanosecond (no write leaves that exact time).
``verify_blob`` (doctor, imports) always reads every byte.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

LIMIT = 512  # files remembered; the oldest are forgotten first
SETTLED_NS = 3 * 10**9  # an mtime this old cannot be shared with a later write

_Key = tuple[int, int]  # device, inode
_Seen = tuple[int, int, int, str]  # size, mtime, ctime (ns), the state's sha256 (not the header: small to keep)


class CheckedBlobs:
    """Files by (device, inode), each with the size, times and state sha256 it had when it was checked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[_Key, _Seen] = {}

    def remember(self, info: os.stat_result, digest: str) -> None:
        """``info`` (taken before the check) describes the file just checked, unchanged meanwhile."""
        if time.time_ns() - max(info.st_mtime_ns, info.st_ctime_ns) >= SETTLED_NS:
            self._add(info, digest)

    def stamp(self, path: Path, digest: str) -> None:
        """``path`` was just written or checked by this process: set its mtime to now and remember it."""
        now = time.time_ns()
        os.utime(path, ns=(now, now))
        info = os.stat(path)
        if info.st_mtime_ns == now:  # a filesystem that keeps coarser times gets the rule above
            self._add(info, digest)
        else:
            self.remember(info, digest)

    def known(self, info: os.stat_result, digest: str) -> bool:
        """True when the file ``info`` describes, holding this state, was checked and has not changed since."""
        return self._digest_if_known(info) == digest

    def replace(self, source: Path, target: Path) -> None:
        """``os.replace``, keeping what is known of the file."""
        digest = self._digest_if_known(os.stat(source))
        os.replace(source, target)
        if digest is not None:
            self.stamp(target, digest)

    def touch(self, path: Path) -> None:
        """Mark ``path`` as just used (its mtime), keeping what is known of it."""
        digest = self._digest_if_known(os.stat(path))
        if digest is not None:
            self.stamp(path, digest)
        else:
            os.utime(path)

    def _add(self, info: os.stat_result, digest: str) -> None:
        with self._lock:
            self._known.pop((info.st_dev, info.st_ino), None)
            if len(self._known) >= LIMIT:
                del self._known[next(iter(self._known))]
            self._known[(info.st_dev, info.st_ino)] = (info.st_size, info.st_mtime_ns, info.st_ctime_ns, digest)

    def _digest_if_known(self, info: os.stat_result) -> str | None:
        with self._lock:
            seen = self._known.get((info.st_dev, info.st_ino))
        if seen is None or seen[:3] != (info.st_size, info.st_mtime_ns, info.st_ctime_ns):
            return None
        return seen[3]


CHECKED = CheckedBlobs()
