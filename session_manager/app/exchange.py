"""What goes in and out of the store from the panel: exports of a session, imports of files and folders."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from ..choices import DOCUMENT_SUFFIX
from ..errors import SessionManagerError
from ..formats import export_document, import_paths
from ..formats.session_archive import export_session
from ..recording.page_mirror import Page
from ..recording.recorder import Recorder


class Exchange:
    """``page(tab)`` is the tab's page the user acted in last (the workspace's), whose status line reports."""

    def __init__(self, recorder: Recorder, page: Callable[[str | None], Page]) -> None:
        self.recorder = recorder
        self.store = recorder.store
        self.page = page

    def export(self, tab: str | None, fmt: str) -> str | None:
        page = self.page(tab)
        if not page.session_id:
            page.notify("Select a session to export first.")
            return None

        folder = Path(tempfile.mkdtemp(prefix="sm-export-"))
        try:
            path = export_document(self.store, page.session_id, folder, fmt) if fmt in DOCUMENT_SUFFIX else \
                export_session(self.store, page.session_id, folder, fmt)  # type: ignore[arg-type]  # one of choices.FORMATS
        except SessionManagerError as exc:
            page.notify(f"Warning: Not exported: {exc}")
            return None
        page.notify(f"Exported as {path.name}.")
        return str(path)

    def import_file(self, tab: str | None, path: str | None) -> None:
        """Import a file of any known format, or a folder (textgen's: its saved prompts and chats).

        While it runs, the status line says how far it has come (the panel's refresh shows it): each file of a
        folder, the sessions of a training file, the checkpoints of one large export (those at a bounded rate).
        """
        page = self.page(tab)
        if not path:
            return

        def progress(done: int, total: int, what: str) -> None:
            if what:
                page.notify(f"Importing: {what}")

        report = import_paths(self.store, [Path(path)], progress)
        taken = [item for item in report.items if item.session_id and item.status in ("imported", "updated")]
        if len(taken) == 1:
            self.recorder.select_session(page, taken[0].session_id)
        failed = next((item for item in report.items if item.status == "failed"), None)
        page.notify(report.summary() + (f" {failed.message}" if failed else ""))

