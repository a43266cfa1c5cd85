"""Formats in and out: foreign sessions and chats into the store, many sessions and training data out.

In: ``import_paths`` (any file or folder; the format is told by content) and ``import_textgen_work``
(textgen's prompt files and chat histories). Each session goes through ``SessionStore.add_bundle``.
Out: ``export_bulk`` (many sessions in one zip), ``export_training`` (JSONL for fine-tuning) and
``export_document`` (Markdown or HTML to read). This package imports neither gradio nor textgen.
"""

from __future__ import annotations

import importlib
from typing import Any

# Each name is imported from its module when first used: `session-manager list` never loads the readers.
_HOME = {
    "BulkExport": "bulk", "export_bulk": "bulk",
    "export_document": "documents",
    "session_document": "documents",
    "SourceFormat": "importing", "detect_format": "importing", "import_paths": "importing",
    "import_textgen_work": "importing",
    "ImportItem": "report", "ImportReport": "report", "Progress": "report",
    "choose_checkpoints": "selection", "select_sessions": "selection",
    "TrainingExport": "training",
    "export_training": "training",
}
__all__ = sorted(_HOME)  # the names users type (formats, checkpoint choices) are in ..choices


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    globals()[name] = value
    return value
