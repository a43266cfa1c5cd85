"""Everything a person can do from the panel, in their words: the interface's one door to the core.

Each action takes the browser tab it came from, does its work through the recorder and the
store, puts a message on that tab's status line and returns it. Errors from the core are turned
into a "Warning: ..." message, so the interface never has to catch anything.
"""

from __future__ import annotations

from typing import Any

from ..chat_history import swiped
from ..errors import SessionManagerError
from ..models import HostLink
from ..recording.page_mirror import VIEWS, Page, attempt, page_id
from ..recording.recorder import Recorder, Restored
from ..store import MAX_NAME_LENGTH, SessionStore
from .exchange import Exchange
from .history.desk import HistoryDesk
from .history.insight import InsightDesk
from .panel_state import (
    PanelState,
    SelectionDetails,
    delete_question,
    is_saved_checkpoint,
    load_choice,
    panel_state,
    selection_details,
)


class Workspace:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.store: SessionStore = recorder.store
        self.settings = recorder.settings
        self.exchange = Exchange(recorder, self.page)
        self.history = HistoryDesk(recorder, self.page, self.select_session)  # undo/redo, timeline, notes, pins
        self.insight = InsightDesk(recorder, self.page)  # diffs, runs side by side, stats

    def page(self, tab: str | None, view: str | None = None) -> Page:
        """The tab's page of ``view``; without a view, the one the user acted in last."""
        if view is None:
            return self.recorder.pages.active(tab) or self.recorder.page(page_id(tab, "text"))
        return self.recorder.page(page_id(tab, view))

    def mirror(self, tab: str | None, view: str, fields: dict[str, Any], by_user: bool = False) -> None:
        """A host view changed; in a chat, another version of a reply shown (a swipe) is a checkpoint."""
        page = self.page(tab, view)
        before = page.content.history
        # A chat is saved reply by reply (textgen keeps its history file itself): its changes are never edits.
        page.update(by_user=by_user, load=view == "chat", **fields)
        if view == "chat" and swiped(before, page.content.history) and page.session_id is not None:
            attempt(page, "Not saved", lambda: self.recorder.checkpoint(page, "swipe"))

    def state(self, tab: str | None, view: str | None = None, query: str = "",
              wanted: list[str | None] | None = None) -> PanelState:
        return panel_state(self.store, self.page(tab, view), query, wanted)

    def details(self, tab: str | None, choice: str | None) -> SelectionDetails:
        return selection_details(self.store, self.page(tab).session_id, choice)

    def revision(self, tab: str | None) -> tuple[int, ...]:
        """Changes whenever the tab's panel may show something new (its pages, or the store)."""
        return (*(self.page(tab, view).revision for view in VIEWS), self.store.revision())

    def follow(self, tab: str | None, view: str, link: HostLink | None) -> None:
        """The tab's view now shows what ``link`` names in the host (a textgen prompt or chat): record into
        its session."""
        page = self.page(tab, view)
        if link is None or link == page.link:
            return
        if page.dirty and page.session_id is not None:
            attempt(page, "Not saved", lambda: self.recorder.autosave(page))  # the old prompt's last words
        page.link = link
        page.expect_load(self.recorder.host.loadable_texts(view, link))  # what the host shows next is no edit
        found = self.store.find_by_link(link)
        page.session_id = found.id if found else None
        if found is not None:
            self.recorder.host.session_opened(page)
        page.notify(f"Following “{link.name}”: session “{found.name}”." if found else
                    f"Following “{link.name}”; a session starts when you write or generate.")

    # ----- checkpoints ----------------------------------------------------------------------

    def save(self, tab: str | None, label: str = "", view: str | None = None) -> str | None:
        """Save checkpoint; returns the new checkpoint's id (None when it failed)."""
        page = self.page(tab, view)
        return attempt(page, "Not saved", lambda: self.recorder.checkpoint(page, "manual", label.strip()).id)

    def restore(self, tab: str | None, choice: str | None, load_model: bool | None = None,
                view: str | None = None) -> Restored | None:
        """Restore a picker entry into the tab's page of its kind (a chat checkpoint goes to the chat)."""
        source = self.page(tab, view)
        session_id = source.session_id
        checkpoint = load_choice(self.store, session_id, choice)
        if session_id is None or checkpoint is None:
            source.notify("Pick a checkpoint to restore first.")
            return None
        target_view = "chat" if checkpoint.mode == "chat" else "text"
        page = self.page(tab, target_view)
        self.history.steps.forget(page)  # a restore is a new present: Back returns to what it replaced
        load = self.settings.current.load_model_on_restore if load_model is None else load_model
        result = attempt(page, "Not restored",
                               lambda: self.recorder.restore(page, session_id, checkpoint, bool(load)))
        if page is not source:
            source.notify(page.status)
        return Restored(target_view, result) if result is not None else None

    def delete_checkpoint(self, tab: str | None, choice: str | None) -> None:
        page = self.page(tab)
        session_id = page.session_id
        if not session_id or not is_saved_checkpoint(choice):
            page.notify("Pick a saved checkpoint to delete (autosaves go by themselves).")
            return

        def delete() -> None:
            self.store.delete_checkpoint(session_id, choice)
            page.notify("Checkpoint deleted.")

        attempt(page, "Not deleted", delete)

    # ----- sessions -------------------------------------------------------------------------

    def select_session(self, tab: str | None, session_id: str | None) -> None:
        page = self.page(tab)
        if not session_id:
            return

        def select() -> None:
            self.recorder.select_session(page, session_id)
            name = self.store.get_session(session_id).name
            page.notify(f"Selected “{name}”. Pick a checkpoint and press Restore to load it.")

        attempt(page, "Not selected", select)

    def new_session(self, tab: str | None, name: str = "") -> None:
        page = self.page(tab)

        def create() -> None:
            session_id = self.recorder.new_session(page, name=name.strip() or None, link=page.link)
            page.notify(f"Created “{self.store.get_session(session_id).name}”.")

        attempt(page, "Not created", create)

    def rename(self, tab: str | None, name: str) -> None:
        page = self.page(tab)
        session_id = page.session_id
        if not session_id:
            page.notify("Select a session to rename first.")
            return

        def rename() -> None:
            meta = self.store.rename_session(session_id, name)
            cut = len(" ".join(str(name).split())) > MAX_NAME_LENGTH
            page.notify(f"Renamed to “{meta.name}”" + (f" (shortened to {MAX_NAME_LENGTH} characters)." if cut
                                                       else "."))

        attempt(page, "Not renamed", rename)

    def branch(self, tab: str | None, choice: str | None, name: str = "") -> None:
        page = self.page(tab)
        session_id = page.session_id
        if not session_id or not is_saved_checkpoint(choice):
            page.notify("Pick a saved checkpoint to branch from.")
            return

        def branch() -> None:
            meta, _ = self.store.branch(session_id, choice, name.strip() or None)
            self.recorder.select_session(page, meta.id)
            page.notify(f"Branched into “{meta.name}”.")

        attempt(page, "Not branched", branch)

    def delete_session(self, tab: str | None, session_id: str | None) -> None:
        page = self.page(tab)
        if not session_id:
            return

        def delete() -> None:
            name = self.store.get_session(session_id).name
            self.store.delete_session(session_id)
            if page.session_id == session_id:
                rows = self.store.list_sessions(limit=1)
                self.recorder.select_session(page, rows[0].meta.id if rows else None)
            page.notify(f"Deleted “{name}”.")

        attempt(page, "Not deleted", delete)

    def confirm_question(self, tab: str | None, choice: str | None = None) -> str:
        """What the confirmation row asks before a delete (of the session, or of one checkpoint)."""
        return delete_question(self.store, self.page(tab).session_id, choice)

    # ----- settings -------------------------------------------------------------------------

    def set_setting(self, key: str, value: Any) -> str:
        try:
            self.settings.set(key, value)
        except SessionManagerError as exc:
            return f"Warning: {exc}"
        if key in ("autosave_interval", "autosave"):
            self.recorder.timer.reschedule()
        return f"Saved: {key} = {value}."
