"""The Engine a host with a recorder gives the API: a restore goes through the recorder, as the panel's does."""

from __future__ import annotations

from ..models import Checkpoint
from ..page import page_id
from ..recorder import Recorder, RestoreResult

API_TAB = "api"  # the recorder's page of API restores, apart from every browser tab's


class RecorderEngine:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def is_generating(self) -> bool:
        return self.recorder.host.is_generating()

    def restore(self, session_id: str, checkpoint: Checkpoint, load_model: bool) -> RestoreResult:
        """The checkpoint becomes the session's present, the host's own saved prompt or chat shows it (the
        session's, when it follows one), and its KV snapshot goes into the engine."""
        page = self.recorder.page(page_id(API_TAB, "chat" if checkpoint.mode == "chat" else "text"))
        page.link = self.recorder.store.get_session(session_id).link
        return self.recorder.restore(page, session_id, checkpoint, load_model)
