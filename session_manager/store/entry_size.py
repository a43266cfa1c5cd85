"""How large a checkpoint may be when it is saved: no larger than an import reads back from its export.

An import reads each checkpoint of an export whole, and refuses one longer than
``MAX_CHECKPOINT_ENTRY_BYTES`` (formats/session_archive.py), so that memory stays bounded. A save
of a larger checkpoint is refused here, before anything is written: what the store holds can
always be exported and imported again.

A checkpoint takes the most room in a single-file .json export, where each of its lines is
indented four more spaces than in its own file (a .zip export holds the file as it is); the
size checked counts those spaces, so both exports of a checkpoint that was saved import back.
"""

from __future__ import annotations

from ..errors import ImportFailed
from ..limits import MAX_CHECKPOINT_ENTRY_BYTES
from ..units import human_bytes

EXPORT_INDENT = 4  # spaces a .json export adds to each line of a checkpoint (it sits in a list in an object)
SAVE_ADVICE = ("nothing was saved (the text on the page stays as it is): move part of it into a new session, "
               "or start a new chat, and save again")
_IMPORT_ADVICE = "nothing was imported from it (split the chat or text into smaller files and import those)"


def entry_size(data: bytes) -> int:
    """The most room a checkpoint whose file holds ``data`` takes in an export (characters or bytes)."""
    return len(data) + EXPORT_INDENT * data.count(b"\n")


def too_large(data: bytes) -> str | None:
    """Why a checkpoint of ``data`` may not be saved ("it is 17.2 MB, ..."), or None when it may."""
    size = entry_size(data)
    if size <= MAX_CHECKPOINT_ENTRY_BYTES:
        return None
    return (f"it is {human_bytes(size)} as an export holds it, more than the {human_bytes(MAX_CHECKPOINT_ENTRY_BYTES)} "
            "a checkpoint may have (the most an import reads back)")


def import_refused(why: str) -> ImportFailed:
    """An import of a session holding a checkpoint of that size: refused as imports are."""
    return ImportFailed(f"a checkpoint is too large: {why}; {_IMPORT_ADVICE}")
