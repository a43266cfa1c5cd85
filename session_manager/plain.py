"""Text from disk or from a hostile file, made safe to print on one line."""

from __future__ import annotations

import re

# Every character of the categories Cc (controls), Cs (lone surrogates), Zl and Zp (line and paragraph
# separators), and the bidi overrides and isolates, which would reorder what follows.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def plain(text: str) -> str:
    """``text`` with control, bidi-override and line-breaking characters (and lone surrogates) shown escaped."""
    return _UNSAFE.sub(lambda found: _escaped(found.group()), str(text))


def _escaped(ch: str) -> str:
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


def clip(text: str, width: int = 40) -> str:
    """``text`` cut to ``width`` characters, an ellipsis marking the cut."""
    text = text or ""
    return text if len(text) <= width else text[: width - 1] + "…"


def quoted(text: str, width: int = 60) -> str:
    """Text a person typed, echoed in a message: quoted, on one line, never longer than ``width``."""
    return repr(clip(" ".join(str(text).split()), width))
