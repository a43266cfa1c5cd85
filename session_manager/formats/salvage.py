"""What can be read of a JSON document cut off mid-write (a crash while textgen rewrote its chat file).

textgen writes its chat histories in place, without a temp file: a crash leaves the start of the
document. ``salvage_json`` keeps everything up to the last container that was complete (a whole
``[user, bot]`` row, a whole metadata entry) and closes the ones still open, so every complete
message is imported and only the one being written is lost.
"""

from __future__ import annotations

import json
from typing import Any

_CLOSERS = {"{": "}", "[": "]"}


def salvage_json(text: str) -> Any | None:
    """The document made of the longest complete prefix of ``text``, or None when nothing complete is in it."""
    cut = _last_cut(text)
    while cut is not None:
        end, open_now = cut
        candidate = text[:end].rstrip().rstrip(",") + "".join(_CLOSERS[c] for c in reversed(open_now))
        try:
            return json.loads(candidate)
        except ValueError:  # the prefix ends inside an object's key; try the cut before it
            cut = _last_cut(text[:end - 1]) if end > 1 else None
    return None


def _last_cut(text: str) -> tuple[int, str] | None:
    """(end, containers still open) right after the last container that closed while others stayed open."""
    stack: list[str] = []
    in_string = escaped = False
    cut: tuple[int, str] | None = None
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in _CLOSERS:
            stack.append(char)
        elif char in "]}":
            if not stack or _CLOSERS[stack[-1]] != char:
                return cut  # not JSON beyond this point
            stack.pop()
            if stack:
                cut = (index + 1, "".join(stack))
    return cut if stack else None
