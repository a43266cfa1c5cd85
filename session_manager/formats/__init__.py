"""Formats in and out: foreign sessions and chats into the store, many sessions and training data out.

In: ``import_paths`` (any file or folder; the format is told by content) and ``import_textgen_work``
(textgen's prompt files and chat histories). Each session goes through ``SessionStore.add_bundle``.
Out: ``export_bulk`` (many sessions in one zip), ``export_training`` (JSONL for fine-tuning) and
``export_document`` (Markdown or HTML to read). This package imports neither gradio nor textgen.
"""

from .bulk import BulkExport, export_bulk
from .documents import DOCUMENT_SUFFIX, DocumentFormat, export_document, session_document
from .importing import SourceFormat, detect_format, import_paths, import_textgen_work
from .report import ImportItem, ImportReport, Progress
from .selection import CHOICES, Choice, choose_checkpoints, select_sessions
from .training import TRAINING_FORMATS, TrainingExport, TrainingFormat, export_training

__all__ = [
    "CHOICES", "DOCUMENT_SUFFIX", "TRAINING_FORMATS", "BulkExport", "Choice", "DocumentFormat", "ImportItem",
    "ImportReport", "Progress", "SourceFormat", "TrainingExport", "TrainingFormat", "choose_checkpoints",
    "detect_format", "export_bulk", "export_document", "export_training", "import_paths", "import_textgen_work",
    "select_sessions", "session_document",
]
