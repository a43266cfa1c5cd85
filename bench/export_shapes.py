"""This tool's own exports in the shapes that cost an import the most, written as export_session writes them.

Each is a session whose checkpoints were multiplied by hand (unique ids in the checkpoint id
format): the most checkpoints a session may bring, a .json export at its size limit, and one
checkpoint at the byte limit of a value, its text holding one emoji (Python then keeps every
character of it in 4 bytes, the most memory a text of that length can take).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

from session_manager.formats.session_archive import (
    MAX_IMPORT_CHECKPOINTS,
    MAX_IMPORT_ENTRIES,
    MAX_JSON_ENTRY_BYTES,
    MAX_JSON_EXPORT_BYTES,
)

SESSION = {"format_version": 1, "id": "20250101T000000Z-bench0", "name": "Bench", "created": "2025-01-01T00:00:00Z",
           "updated": "2025-01-01T00:00:00Z", "mode": "default", "parent": None, "tags": [], "notes": "",
           "pinned": False, "link": None, "origin": None}


def checkpoint(n: int, text: str | None = None) -> dict[str, object]:
    cid = f"2025{n // 1_000_000 % 12 + 1:02d}01T{n // 3600 % 24:02d}{n // 60 % 60:02d}{n % 60:02d}{n % 1000:03d}Z"
    return {"format_version": 1, "id": f"{cid}-{_base36(n)}", "created": "2025-01-01T00:00:00Z", "mode": "default",
            "trigger": "manual", "label": "", "input_text": f"Page {n}", "output_text": text or f"Page {n}, then"}


def _base36(n: int) -> str:
    digits = ""
    for _ in range(6):
        n, digit = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
    return digits


def write_json(path: Path, count: int, text: Callable[[int], str | None] = lambda n: None,
               max_bytes: int | None = None) -> None:
    """A .json export as export_session writes it (indented), its checkpoints written one at a time."""
    end = '\n  ],\n  "autosave": null,\n  "marks": null\n}\n'
    with open(path, "wb") as out:
        out.write(('{\n  "session_manager_export": 1,\n  "session": ' + json.dumps(SESSION, indent=2)
                   + ',\n  "checkpoints": [\n').encode())
        for n in range(count):
            item = ((",\n" if n else "") + json.dumps(checkpoint(n, text(n)), indent=2, ensure_ascii=False)).encode()
            if max_bytes is not None and out.tell() + len(item) + len(end) > max_bytes:
                break
            out.write(item)
        out.write(end.encode())


def json_at_size_limit(path: Path) -> None:
    """Tiny checkpoints up to the file size limit: far more than a session may bring (refused)."""
    write_json(path, MAX_JSON_EXPORT_BYTES, max_bytes=MAX_JSON_EXPORT_BYTES)


def zip_export(path: Path, count: int, text: Callable[[int], str | None] = lambda n: None) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("session.json", json.dumps(SESSION, indent=2))
        for n in range(count):
            doc = checkpoint(n, text(n))
            archive.writestr(f"checkpoints/{doc['id']}.json", json.dumps(doc, indent=2, ensure_ascii=False))


def value_at_limit(n: int) -> str:
    """The text of a checkpoint whose file is just under the byte limit of one value."""
    return "x" * (MAX_JSON_ENTRY_BYTES - 1024) + "🌊"


SHAPES: list[tuple[str, str, Callable[[Path], None]]] = [
    (f".json export of {MAX_IMPORT_CHECKPOINTS:,} tiny checkpoints (the most a session may bring)",
     "export-most.json", lambda p: write_json(p, MAX_IMPORT_CHECKPOINTS)),
    (".json export at its size limit, tiny checkpoints (refused)", "export-size-limit.json", json_at_size_limit),
    (".json export, one checkpoint at the value limit (an emoji in it)", "export-one-big.json",
     lambda p: write_json(p, 1, value_at_limit)),
    (f".zip export of {MAX_IMPORT_ENTRIES - 1:,} checkpoints (the most entries)", "export-most.zip",
     lambda p: zip_export(p, MAX_IMPORT_ENTRIES - 1)),
    (".zip export, one checkpoint entry at its byte limit (an emoji in it)", "export-one-big.zip",
     lambda p: zip_export(p, 1, value_at_limit)),
]
