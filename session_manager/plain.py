"""Text from disk or from a hostile file, made safe to print on one line."""

from __future__ import annotations

import unicodedata

_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")  # would reorder what follows
_ESCAPED = {"Cc", "Cs", "Zl", "Zp"}  # control characters, lone surrogates, line and paragraph separators


def plain(text: str) -> str:
    """``text`` with control, bidi-override and line-breaking characters (and lone surrogates) shown escaped."""
    return "".join(_escaped(ch) if unicodedata.category(ch) in _ESCAPED or ch in _BIDI else ch for ch in str(text))


def _escaped(ch: str) -> str:
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


def clip(text: str, width: int = 40) -> str:
    """``text`` cut to ``width`` characters, an ellipsis marking the cut."""
    text = text or ""
    return text if len(text) <= width else text[: width - 1] + "…"


def quoted(text: str, width: int = 60) -> str:
    """Text a person typed, echoed in a message: quoted, on one line, never longer than ``width``."""
    return repr(clip(" ".join(str(text).split()), width))
