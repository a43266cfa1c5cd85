"""The Engine a host with a recorder gives the API: a restore goes through the recorder, as the panel's does."""

from __future__ import annotations

import time

from ..models import Checkpoint
from ..recording.page_mirror import page_id
from ..recording.recorder import Recorder, RestoreResult

ENDING_S = 3.0  # how long a generation that is ending is waited for before a 409
API_TAB = "api"  # the recorder's page of API restores, apart from every browser tab's


class RecorderEngine:
    def __init__(self, recorder: Recorder, grace_s: float = ENDING_S) -> None:
        self.recorder = recorder
        self.grace_s = grace_s

    def is_idle(self) -> bool:
        """A client's request has returned a moment before its generation counts as ended: wait that long."""
        deadline = time.monotonic() + self.grace_s
        while self.recorder.host.is_generating():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def restore(self, session_id: str, checkpoint: Checkpoint, load_model: bool) -> RestoreResult:
        """The checkpoint becomes the session's present, the host's own saved prompt or chat shows it (the
        session's, when it follows one), and its KV snapshot goes into the engine."""
        page = self.recorder.page(page_id(API_TAB, "chat" if checkpoint.mode == "chat" else "text"))
        page.link = self.recorder.store.get_session(session_id).link
        return self.recorder.restore(page, session_id, checkpoint, load_model)

    def with_snapshot(self, session_id: str, checkpoint: Checkpoint) -> tuple[Checkpoint, str]:
        """The engine's KV cache kept with the checkpoint (as a Stop keeps it), when the settings allow it.

        The engine must hold the checkpoint's text, as it does right after the API request that wrote it.
        """
        if not self.recorder.kv.wanted("manual"):
            return checkpoint, "KV snapshots are turned off in the settings (kv_snapshots)"
        backend = self.recorder.host.kv_backend()
        if backend is not None:
            backend.wait_idle()  # the request that wrote the text may still be winding down in the engine
        with_kv, note = self.recorder.kv.attach(session_id, checkpoint)
        if with_kv.kv is None and not note:
            note = "no KV snapshot: the engine does not hold this text, or cannot save its cache"
        note = note.strip()
        return with_kv, note[1:-1] if note.startswith("(") and note.endswith(")") else note
