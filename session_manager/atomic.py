"""Crash-safe writes and careful reads of the store's files.

A write goes to a temp file in the same folder, is synced, then renamed over the target, so
a kill -9 at any instant leaves the old file or the new one. It never creates more than the
file's own folder: a folder that vanished (a deleted session) stays gone.

A read refuses links and special files before opening (a FIFO would block forever, a device
never ends) and refuses files larger than the caller's limit before reading a byte.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .errors import StorageError

# How a temp file of an atomic write is named: ".<target>.<random>.tmp" (doctor removes old ones).
TMP_SUFFIX = ".tmp"
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


class UnsafeFile(Exception):
    """A file a reader must not open or read whole: a link, a special file, or too large. The message says which."""


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder, fsync, replace, fsync dir."""
    write_chunks_atomic(path, [data])


def write_chunks_atomic(path: Path, chunks: Iterable[bytes | bytearray | memoryview]) -> None:
    """The same, for data that arrives in pieces (a large engine state is never joined in memory)."""
    try:
        path.parent.mkdir(exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise StorageError(_describe_os_error(exc, path)) from exc
    try:
        with os.fdopen(fd, "wb") as tmp:
            for chunk in chunks:
                tmp.write(chunk)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException as exc:
        # Whatever stopped the write (a full disk, a chunk source that failed), no temp file stays behind.
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        if isinstance(exc, OSError):
            raise StorageError(_describe_os_error(exc, path)) from exc
        raise
    fsync_dir(path.parent)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def read_bounded(path: Path, limit: int) -> bytes:
    """The whole of a regular file of at most ``limit`` bytes.

    Raises UnsafeFile for a link, a special file or a larger file (checked before reading),
    FileNotFoundError when it is missing, and OSError when the disk refuses the read.
    """
    _check_regular(os.lstat(path), limit)
    fd = os.open(path, _READ_FLAGS)
    with os.fdopen(fd, "rb") as handle:
        _check_regular(os.fstat(fd), limit)  # the same file as the one checked, not a swapped-in link
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UnsafeFile(f"larger than {limit:,} bytes, more than this file may hold")
    return data


def open_regular(path: Path) -> int:
    """A read-only descriptor of a regular file (never through a link, never blocking on a FIFO)."""
    _check_regular(os.lstat(path), None)
    fd = os.open(path, _READ_FLAGS)
    try:
        _check_regular(os.fstat(fd), None)
    except UnsafeFile:
        os.close(fd)
        raise
    return fd


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    kinds = ((stat.S_ISLNK, "a symbolic link (the store never writes links)"), (stat.S_ISDIR, "a folder"),
             (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((words for test, words in kinds if test(mode)), "not a regular file")


def fsync_dir(folder: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def describe_os_error(exc: OSError, path: Path) -> str:
    """A failed write in words a person can act on."""
    return _describe_os_error(exc, path)


def _check_regular(info: os.stat_result, limit: int | None) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFile(file_kind(info.st_mode))
    if limit is not None and info.st_size > limit:
        raise UnsafeFile(f"{info.st_size:,} bytes, more than the {limit:,} this file may hold")


def _describe_os_error(exc: OSError, path: Path) -> str:
    if exc.errno == errno.ENOSPC or exc.errno == getattr(errno, "EDQUOT", None):
        return f"the disk is full: {path.name} was not saved (the previous version is intact)"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"no permission to write {path} (the previous version is intact)"
    if exc.errno in (errno.ENOENT, errno.ENOTDIR) and not path.parent.is_dir():
        return f"{path.name} was not saved: its folder {path.parent} no longer exists (was it deleted?)"
    return f"could not write {path}: {exc.strerror or exc} (the previous version is intact)"
