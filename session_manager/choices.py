"""The names a user types for export formats and checkpoint choices.

Kept apart from the readers and writers so that the command line can offer them without loading those.
"""

from __future__ import annotations

from typing import Literal

ExportFormat = Literal["zip", "json", "markdown", "jsonl"]  # one session, as session_archive.export_session writes it
FORMATS: tuple[ExportFormat, ...] = ("zip", "json", "markdown", "jsonl")

TrainingFormat = Literal["messages", "sharegpt", "completion"]
TRAINING_FORMATS: tuple[TrainingFormat, ...] = ("messages", "sharegpt", "completion")

DocumentFormat = Literal["markdown", "html"]
DOCUMENT_SUFFIX = {"markdown": ".md", "html": ".html"}

Choice = Literal["latest", "stops", "pinned", "all"]  # which checkpoints of each session an export takes
CHOICES: tuple[Choice, ...] = ("latest", "stops", "pinned", "all")
