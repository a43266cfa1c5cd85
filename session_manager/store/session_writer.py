"""An imported session written into a scratch folder one checkpoint at a time.

A session exported by this tool may hold 100,000 checkpoints: holding them all as models at
once costs far more memory than the file. The importer hands each checkpoint here as soon as it
is read; only its id is kept. The folder is published whole by ``SessionStore.add_written`` (one
sync for all its files, one rename), or never: a bad checkpoint anywhere leaves only scratch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import BrokenFile, ImportFailed, KVError
from ..models import Checkpoint, SessionMarks, SessionMeta, new_checkpoint_id, new_session_id, utcnow
from .layout import AUTOSAVE_FILE, CHECKPOINTS, KV, MARKS_FILE, SESSION_FILE, kv_file_name
from .layout import checkpoint_file_name as cp_name
from .staging import place_blob, revalidated, write_unsynced


class SessionWriter:
    """Checkpoints in (validated models, each with its unpacked KV blob if any), a session folder out."""

    def __init__(self, folder: Path, report: Callable[[BrokenFile], None], max_checkpoints: int,
                 name: str) -> None:
        self.folder = folder
        self._report = report
        self._max = max_checkpoints
        self._name = name
        self.seen: set[str] = set()
        folder.mkdir()
        (folder / CHECKPOINTS).mkdir()

    def add(self, checkpoint: Checkpoint, blob: Path | None = None) -> None:
        """Write one checkpoint (validated from the file it came in); a repeated id gets a new one, no blob."""
        if len(self.seen) >= self._max:
            raise ImportFailed(f"{self._name} holds more than {self._max:,} checkpoints, the most one imported "
                               "session may have; nothing was imported (delete old checkpoints before exporting)")
        if checkpoint.id in self.seen:
            checkpoint = checkpoint.model_copy(update={"id": new_checkpoint_id(), "kv": None})
            blob = None
        self.seen.add(checkpoint.id)
        if checkpoint.kv is not None and not self._placed(checkpoint.id, blob):
            checkpoint = checkpoint.model_copy(update={"kv": None})
        write_unsynced(self.folder / CHECKPOINTS / cp_name(checkpoint.id), checkpoint)

    def finish(self, meta: SessionMeta, autosave: Checkpoint | None, marks: SessionMarks | None) -> SessionMeta:
        """Write session.json (a new id, changed now), the autosave and the marks of checkpoints that came in."""
        now = utcnow()
        meta = revalidated(SessionMeta, meta.model_copy(update={"id": new_session_id(now), "updated": now}))
        write_unsynced(self.folder / SESSION_FILE, meta)
        if autosave is not None:
            write_unsynced(self.folder / AUTOSAVE_FILE, revalidated(Checkpoint, autosave))
        if marks is not None:
            kept = {cid: mark for cid, mark in revalidated(SessionMarks, marks).marks.items() if cid in self.seen}
            if kept:
                write_unsynced(self.folder / MARKS_FILE, SessionMarks(marks=kept))
        return meta

    def _placed(self, checkpoint_id: str, blob: Path | None) -> bool:
        """The blob verified and moved into the session; a bad one is reported and left out (the text stays)."""
        from ..kvstate.blob import verify_blob  # zstandard is needed only to import blobs

        if blob is None:
            return False
        try:
            verify_blob(blob)
        except KVError as exc:
            self._report(BrokenFile(blob, f"{exc}; this KV snapshot was not imported (the text was)", None))
            return False
        (self.folder / KV).mkdir(exist_ok=True)
        place_blob(blob, self.folder / KV / kv_file_name(checkpoint_id), movable=True)
        return True
