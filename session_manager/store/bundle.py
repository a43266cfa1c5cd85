"""A whole session from outside the store (an import), added to the store all at once or not at all."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..models import Checkpoint, SessionMarks, SessionMeta


@dataclass
class SessionBundle:
    """What an importer hands the store: the session, its checkpoints, and KV blobs to copy in.

    ``meta.id`` is ignored (the store gives the session a new id); checkpoint ids are kept when
    they are valid and unique. ``blobs`` maps a checkpoint id to a KV blob file that is verified
    before it is copied; a blob that fails is dropped with its checkpoint's ``kv`` reference.
    """

    meta: SessionMeta
    checkpoints: list[Checkpoint]
    autosave: Checkpoint | None = None
    marks: SessionMarks | None = None
    blobs: dict[str, Path] = field(default_factory=dict)
