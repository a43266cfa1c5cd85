"""A large JSON document read one value at a time: the single-file export, checkpoint by checkpoint.

Only one value (a checkpoint, the session) is in memory at once, and none may be longer than
``value_limit`` characters: an export of 100,000 checkpoints costs the memory of one of them.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable
from typing import IO, Any

from ..errors import ImportFailed
from .common import MAX_DIGITS

_SPACE = re.compile(r"[ \t\n\r]*")
_CHUNK = 1 << 20


def _reason(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON: {exc.msg}"
    if isinstance(exc, RecursionError):
        return "nested too deeply to be a file of this store"
    if isinstance(exc, _NotANumber):
        return str(exc)
    return f"not valid JSON: a number too long to be one ({MAX_DIGITS:,} digits at most)"


class _NotANumber(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NotANumber(f"not valid JSON: {name} is not a JSON number")


class JsonStream:
    """A JSON text read from ``handle`` in chunks; values are taken off its front one at a time."""

    def __init__(self, handle: IO[bytes], name: str, value_limit: int) -> None:
        self.name = name
        self._handle = handle
        self._limit = value_limit
        self._utf8 = codecs.getincrementaldecoder("utf-8-sig")("strict")  # editors on Windows add a BOM
        self._decoder = json.JSONDecoder(parse_constant=_no_constant)
        self._text = ""
        self._pos = 0
        self._eof = False
        self.bytes_read = 0  # of the file, so far (a little ahead of the values taken)

    def peek(self) -> str:
        """The next character that is not white space ('' at the end)."""
        while True:
            self._pos = _SPACE.match(self._text, self._pos).end()  # type: ignore[union-attr]
            if self._pos < len(self._text) or not self._read(_CHUNK):
                return self._text[self._pos:self._pos + 1]

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise self.broken(f"expected {char!r}")
        self._pos += 1

    def value(self) -> Any:
        """The next whole value, read as far as needed (never further than the limit)."""
        self.peek()
        while True:
            try:
                value, end = self._decoder.raw_decode(self._text, self._pos)
                if end - self._pos > self._limit:
                    raise self._too_long()
                if end < len(self._text) or self._eof:  # a number at the end of the text may go on
                    self._text, self._pos = (self._text[end:], 0) if end > _CHUNK else (self._text, end)
                    return value
            except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
                if self._eof or not self._cut_off(exc):
                    raise self.broken(_reason(exc)) from exc
            pending = len(self._text) - self._pos
            if pending > self._limit:
                raise self._too_long()
            self._read(max(min(pending, self._limit - pending), _CHUNK))  # twice as much, up to the limit

    def _too_long(self) -> ImportFailed:
        return ImportFailed(f"{self.name} holds a checkpoint (or session, autosave or marks) longer than "
                            f"{self._limit:,} characters, the most one may have in an import; nothing was imported "
                            "(a checkpoint this large cannot be imported; export the session as Markdown to keep "
                            "its text)")

    def _cut_off(self, exc: BaseException) -> bool:
        """The error may be only the end of the text read so far (more of the file would complete the value)."""
        if not isinstance(exc, json.JSONDecodeError):
            return False
        return exc.msg.startswith("Unterminated string") or exc.pos >= len(self._text) - 16

    def broken(self, reason: str) -> ImportFailed:
        return ImportFailed(f"{self.name} is not a Session Manager export ({reason}); nothing was imported")

    def _read(self, size: int) -> bool:
        """Add about ``size`` characters to the text; False at the end of the file."""
        if self._eof:
            return False
        data = self._handle.read(size)
        self.bytes_read += len(data)
        try:
            text = self._utf8.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise self.broken(f"not UTF-8 text: {exc.reason}") from exc
        self._eof = not data
        self._text = self._text[self._pos:] + text
        self._pos = 0
        return True


def read_object(stream: JsonStream, items: dict[str, Callable[[Any], None]],
                seen: dict[str, Callable[[Any], None]] | None = None) -> dict[str, Any]:
    """The top-level object's members; those of an array under a key of ``items`` go one by one to its function.

    A member under a key of ``seen`` goes to its function as soon as it is read, wherever it stands in the file.
    """
    fields: dict[str, Any] = {}
    stream.expect("{")
    if stream.peek() == "}":
        stream.expect("}")
        return _ended(stream, fields)
    while True:
        key = stream.value()
        if not isinstance(key, str):
            raise stream.broken("a key is not a string")
        stream.expect(":")
        if key in fields:
            raise stream.broken(f"{key!r} appears twice")
        if key in items and stream.peek() == "[":
            _each(stream, items[key])
            fields[key] = []
        else:
            fields[key] = stream.value()
            if seen and key in seen:
                seen[key](fields[key])
        if stream.peek() == "}":
            stream.expect("}")
            return _ended(stream, fields)
        stream.expect(",")


def _each(stream: JsonStream, take: Callable[[Any], None]) -> None:
    stream.expect("[")
    if stream.peek() == "]":
        stream.expect("]")
        return
    while True:
        take(stream.value())
        if stream.peek() == "]":
            stream.expect("]")
            return
        stream.expect(",")


def _ended(stream: JsonStream, fields: dict[str, Any]) -> dict[str, Any]:
    if stream.peek():
        raise stream.broken("more data after the end of the export")
    return fields
