"""What every reader needs: bounded reads, clear one-line failures, times in the many shapes found in the wild."""

from __future__ import annotations

import codecs
import contextlib
import functools
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..atomic import fsync_dir
from ..errors import ImportFailed, NothingToImport, StorageError
from ..models import EARLIEST, LATEST, utcnow
from ..store import MAX_NAME_LENGTH
from .salvage import salvage_json

MAX_FILE_BYTES = 256 * 1024**2  # one JSON, JSONL or text file; a chat log this big is already unusual
MAX_LINES = 1_000_000  # lines of one JSONL file
# A file read whole (a chat, a prompt, an export): parsed, it takes several times its size in memory.
MAX_DOCUMENT_BYTES = 32 * 1024**2
MAX_DIGITS = 4300  # Python's own limit on the digits of an integer read from text
# Files people drop on an importer by mistake: say what they are instead of "not UTF-8 (byte 0)".
_BINARY_MAGIC = ((b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
                 (b"RIFF", "a WebP image or another RIFF file"), (b"%PDF", "a PDF document"),
                 (b"GGUF", "a GGUF model file"), (b"\x1f\x8b", "a gzip archive"), (b"7z\xbc\xaf", "a 7-Zip archive"),
                 (b"SQLite format 3\x00", "an SQLite database"))

# Naive local times written by textgen, the original extension and SillyTavern.
_LOCAL_FORMATS = (
    "%Y-%m-%d@%H-%M-%S",  # the original session_manager extension's checkpoint keys and file names
    "%Y%m%d-%H-%M-%S",  # textgen's chat ids
    "%Y-%m-%d_%Hh%Mm%Ss",  # textgen's new prompt names
    "%b %d, %Y %H:%M",  # textgen's message timestamps
    "%B %d, %Y %I:%M%p",  # SillyTavern's message times ("June 19, 2023 2:20pm")
    "%Y-%m-%d %H:%M:%S",
)
# SillyTavern's file and header times: "2024-5-1 @17h 32m 05s 123ms" (and "2024-05-01@17h32m05s").
_ST_STAMP = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2}) ?@(\d{1,2})h ?(\d{1,2})m ?(\d{1,2})s(?: ?(\d{1,3})ms)?$")


@contextlib.contextmanager
def replacing(dest: Path) -> Iterator[Path]:
    """A temp path beside ``dest`` to write; it replaces ``dest`` only when the block ends without an error.

    Whatever happens (a full disk, an interrupt, a session deleted meanwhile), ``dest`` is the old file
    or the complete new one, and no temp file is left behind.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, dest)
    except OSError as exc:
        raise StorageError(f"could not write {dest}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    fsync_dir(dest.parent)


def read_bounded(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file no larger than ``limit``; anything else is an ImportFailed."""
    _regular_size(path, path.name, limit)
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise ImportFailed(f"{path.name} cannot be read ({exc.strerror or exc})") from exc
    if len(data) > limit:
        raise ImportFailed(f"{path.name} is larger than {limit // 1024**2} MB")
    return data


class Source:
    """One file to import: read on demand within bounds, and its content's origin (a hash of its bytes).

    A JSON document (``text``, ``json``) is read whole, up to MAX_DOCUMENT_BYTES; a JSONL file is read
    line by line (``rows``), so a file of a million lines never sits in memory at once. ``label`` names
    the file in messages (a textgen chat by its character folder too); ``dropped`` says what a reader
    had to leave out of a file cut off mid-write (textgen writes in place, without a temp file).
    """

    def __init__(self, path: Path, label: str | None = None) -> None:
        self.path = path
        self.label = label or path.name
        self.dropped: list[str] = []
        self.size = _regular_size(path, self.label)
        with _opened(path, self.label) as handle:
            head = handle.read(256)
        _refuse_binary(head, self.label)
        self.head = head
        # UTF-16 and UTF-32 files are read as a whole (their lines cannot be split as bytes)
        self._wide = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE))

    @property
    def name(self) -> str:
        return self.label

    @functools.cached_property
    def origin(self) -> str:
        digest = hashlib.sha256()
        with _opened(self.path, self.label) as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        return "sha256:" + digest.hexdigest()

    @functools.cached_property
    def text(self) -> str:
        if self.size > MAX_DOCUMENT_BYTES:
            raise ImportFailed(f"{self.name} is {self.size / 1024**2:,.0f} MB, more than the "
                               f"{MAX_DOCUMENT_BYTES // 1024**2} MB a chat, prompt or single-file export may have "
                               "(export large sessions as .zip; JSONL files may be larger)")
        return decode_text(read_bounded(self.path, MAX_DOCUMENT_BYTES), self.label)

    @functools.cached_property
    def json(self) -> Any:
        if not self.text.strip():
            raise NothingToImport(f"{self.name} is empty")
        try:
            return parse_json(self.text, self.name)
        except ImportFailed:
            salvaged = salvage_json(self.text)
            if salvaged is None:
                raise
            self.dropped.append("the end of the file, which was cut off (not complete JSON)")
            return salvaged

    def rows(self) -> Iterator[tuple[int, Any]]:
        """(line number, value) of every non-blank line, read as they come; a broken line fails the whole file,
        unless it is the last one and the file ends there (a write cut off): it is dropped and said so."""
        count = 0
        for number, line, last in self._lines():
            if not line.strip():
                continue
            count += 1
            if count > MAX_LINES:
                raise ImportFailed(f"{self.name} has more than {MAX_LINES:,} lines; split it into smaller files")
            try:
                yield number, parse_json(line, f"{self.name} line {number}", one_line=True)
            except ImportFailed:
                if not last or count == 1:
                    raise
                self.dropped.append(f"line {number}, which was cut off (not complete JSON)")
        if count == 0:
            raise NothingToImport(f"{self.name} is empty")

    @property
    def jsonl(self) -> list[tuple[int, Any]]:
        """Every row at once (for files that are one session, such as a chat)."""
        return list(self.rows())

    def first_rows(self, count: int) -> list[Any]:
        """The values of the first ``count`` non-blank lines (to tell the format); [] when one is not JSON."""
        values: list[Any] = []
        try:
            for number, line, _ in self._lines():
                if len(values) == count:
                    break
                if line.strip():
                    values.append(parse_json(line, f"{self.name} line {number}", one_line=True))
        except ImportFailed:  # not JSON, not UTF-8, or a line too long to be a JSONL line
            return []
        return values

    def _lines(self) -> Iterator[tuple[int, str, bool]]:
        """(number, text, is the file's unterminated last line) of every line."""
        if self._wide:
            lines = self.text.split("\n")
            for number, line in enumerate(lines, start=1):
                yield number, line, number == len(lines) and bool(line)
            return
        with _opened(self.path, self.label) as handle:
            for number, raw in enumerate(iter(lambda: handle.readline(MAX_DOCUMENT_BYTES + 1), b""), start=1):
                if len(raw) > MAX_DOCUMENT_BYTES:
                    raise ImportFailed(f"{self.name} line {number} is longer than {MAX_DOCUMENT_BYTES // 1024**2} MB; "
                                       "a sample or message this long is not imported")
                if number == 1:
                    raw = raw.removeprefix(codecs.BOM_UTF8)
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise ImportFailed(f"{self.name} line {number} is not UTF-8 text (byte {exc.start + 1:,} of the "
                                       "line); save the file as UTF-8 and import it again") from exc
                yield number, text, not raw.endswith(b"\n")

    @property
    def mtime(self) -> datetime:
        return file_mtime(self.path)


def _regular_size(path: Path, name: str, limit: int = MAX_FILE_BYTES) -> int:
    """The size of a regular file no larger than ``limit``; anything else is an ImportFailed."""
    try:
        info = path.stat()
    except OSError as exc:
        raise ImportFailed(f"{name} cannot be read ({exc.strerror or exc})") from exc
    if not stat.S_ISREG(info.st_mode):
        raise ImportFailed(f"{name} is not a regular file")
    if info.st_size > limit:
        raise ImportFailed(f"{name} is larger than {limit // 1024**2} MB; split it into smaller files")
    return info.st_size


@contextlib.contextmanager
def _opened(path: Path, name: str) -> Iterator[Any]:
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, OSError on open reported with the name
    except OSError as exc:
        raise ImportFailed(f"{name} cannot be read ({exc.strerror or exc})") from exc
    with handle:
        yield handle


def _refuse_binary(head: bytes, name: str) -> None:
    for magic, kind in _BINARY_MAGIC:
        if head.startswith(magic):
            raise ImportFailed(f"{name} is {kind}, not a text file; import chats, prompts and exports")


def parse_json(text: str, where: str, one_line: bool = False) -> Any:
    """JSON text as Python values; ImportFailed names where it breaks (a JSONL line: only its column)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        place = f"column {exc.colno}" if one_line else f"line {exc.lineno}, column {exc.colno}"
        raise ImportFailed(f"{where} is not valid JSON ({place})") from exc
    except RecursionError as exc:
        raise ImportFailed(f"{where} is nested too deeply to be a chat or session file") from exc
    except ValueError as exc:  # an integer of thousands of digits: Python refuses to convert it
        raise ImportFailed(f"{where} holds a number too long to be one ({MAX_DIGITS:,} digits at most)") from exc


def decode_text(data: bytes, name: str) -> str:
    """Text of a file: UTF-8 (with or without a BOM), or UTF-16/32 with a BOM, as textgen's json.loads reads them."""
    _refuse_binary(data[:16], name)
    encoding = "utf-8-sig"
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        encoding = "utf-32"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        if b"\x00" in data[:1024]:
            raise ImportFailed(f"{name} is a binary file, not text; import chats, prompts and exports") from exc
        raise ImportFailed(f"{name} is not UTF-8 text (byte {exc.start:,} is not UTF-8); save it as UTF-8 and "
                           "import it again") from exc


def file_mtime(path: Path) -> datetime:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
    except OSError:
        return utcnow()


def parse_time(value: Any) -> datetime | None:
    """A time in UTC from epoch seconds or milliseconds, ISO 8601, or the local-time stamps of textgen,
    the original extension and SillyTavern; None when it is none of these."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 1e11 else value  # milliseconds since 1973 are larger than this
        try:
            return _in_range(datetime.fromtimestamp(seconds, tz=timezone.utc))
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        return None
    text = value.strip()
    parsed = _parse_local(text)
    if parsed is None:
        return None
    try:
        return _in_range(parsed.astimezone(timezone.utc))  # a naive time is the writer's local time
    except (OverflowError, OSError, ValueError):  # year 1 or 9999 at the edge of the local time zone
        return None


def _in_range(when: datetime) -> datetime | None:
    """A time the store can keep (see models.EARLIEST/LATEST); a file's nonsense time counts as none."""
    return when if EARLIEST <= when <= LATEST else None


def session_name(text: str, fallback: str) -> str:
    """A one-line session label from a title or the first words of a text."""
    words = " ".join(text.split())
    if len(words) > 60:
        words = words[:59].rstrip() + "…"
    return (words or fallback)[:MAX_NAME_LENGTH]


def require(condition: bool, message: str) -> None:
    """A format rule the data breaks: one clear line, nothing imported."""
    if not condition:
        raise ImportFailed(message)


def _parse_local(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    match = _ST_STAMP.match(text)
    if match:
        year, month, day, hour, minute, second, millis = (int(g) if g else 0 for g in match.groups())
        try:
            return datetime(year, month, day, hour, minute, second, millis * 1000)
        except ValueError:
            return None
    for fmt in _LOCAL_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None
