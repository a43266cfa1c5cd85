"""The history's actions as the panel calls them: each takes the browser tab, does its work, and puts a
message on that tab's status line (errors from the core become a "Warning: ..." there)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...errors import SessionManagerError
from ...recording.kv_policy import describe
from ...recording.page_mirror import Page
from ...recording.recorder import Recorder, Restored
from ..history_entries import AUTOSAVE_CHOICE, load_entry
from ..panel_state import is_saved_checkpoint
from .drawing import SESSION_PICK
from .steps import Step, Steps
from .timeline import render_timeline, timeline_points
from .tree import family_tree, render_tree

PageOf = Callable[..., Page]  # the workspace's page(tab, view=None): the tab's page of a view


MAX_TAGS = 20
MAX_TAG_CHARS = 40


class HistoryDesk:
    def __init__(self, recorder: Recorder, page: PageOf,
                 select_session: Callable[[str | None, str | None], None]) -> None:
        self.recorder = recorder
        self.store = recorder.store
        self.page = page
        self.select_session = select_session
        self.steps = Steps(recorder)

    # ----- undo and redo --------------------------------------------------------------------

    def step(self, tab: str | None, view: str, direction: int) -> tuple[Restored | None, str | None]:
        """Back (-1) or Forward (+1) in the view's page: (what was restored, the picker value to show)."""
        page = self.page(tab, view)
        if self.recorder.host.is_generating():
            page.notify("A generation is running: stop it (or let it end) before stepping back or forward.")
            return None, None
        result = attempt(page, "Not moved", lambda: self.steps.step(page, direction))
        if not isinstance(result, Step):
            if isinstance(result, str):
                page.notify(result)
            return None, None
        checkpoint = result.restored.checkpoint
        where = "the newest state, the" if result.newest else "the"
        said = " ".join(result.restored.messages)
        page.notify(f"{'Back' if direction < 0 else 'Forward'} to {where} {describe(checkpoint)} "
                    f"({result.place} of {result.total})." + (f" {said}" if said else ""))
        target = "chat" if checkpoint.mode == "chat" else "text"
        choice = result.entry.choice if not result.newest or result.entry.kind == "checkpoint" else AUTOSAVE_CHOICE
        return Restored(target, result.restored), choice

    # ----- the timeline and the tree ----------------------------------------------------------

    def timeline(self, tab: str | None, selected: str | None) -> str:
        page = self.page(tab)
        if page.session_id is None:
            return render_timeline([])
        here = self.steps.position(page)
        return render_timeline(timeline_points(self.store, page.session_id), selected, here.id if here else None)

    def tree(self, tab: str | None) -> str:
        session_id = self.page(tab).session_id
        return render_tree(family_tree(self.store, session_id) if session_id else None, session_id)

    def pick(self, tab: str | None, value: str | None) -> str | None:
        """A click on a picture: select that point (its picker value is returned) or that session."""
        value = (value or "").split("|", 1)[0]
        page = self.page(tab)
        if value.startswith(SESSION_PICK):
            self.select_session(tab, value[len(SESSION_PICK):])
            return None
        picked = load_entry(self.store, page.session_id, value)
        if picked is None:
            page.notify("That point of the timeline is gone (deleted or trimmed): pick another one.")
            return None
        page.notify(f"Selected the {describe(picked)}: Restore puts it into the page.")
        return value

    # ----- notes, tags and pins ---------------------------------------------------------------

    def mark_fields(self, tab: str | None, choice: str | None) -> tuple[str, str, bool]:
        """The selected checkpoint's label, note and pin, for the fields that edit them."""
        session_id = self.page(tab).session_id
        if not session_id or not is_saved_checkpoint(choice):
            return "", "", False
        mark = self.store.marks(session_id).marks.get(choice or "")
        checkpoint = load_entry(self.store, session_id, choice)
        label = mark.label if mark is not None and mark.label else checkpoint.label if checkpoint else ""
        return label, mark.note if mark else "", bool(mark and mark.pinned)

    def mark(self, tab: str | None, choice: str | None, label: str, note: str, pinned: bool) -> None:
        page = self.page(tab)
        if not page.session_id or not is_saved_checkpoint(choice):
            page.notify("Pick a saved checkpoint to label, note or pin (autosaves come and go; save a checkpoint "
                        "to keep one).")
            return
        session_id, checkpoint_id = page.session_id, str(choice)

        def save() -> None:
            checkpoint = self.store.get_checkpoint(session_id, checkpoint_id)
            own = (label or "").strip() == checkpoint.label
            self.store.set_mark(session_id, checkpoint_id, pinned=bool(pinned), note=note or "",
                                label="" if own else label or "")
            kept = " Pinned: its KV snapshot is never removed by the budget." if pinned else ""
            page.notify(f"Saved the label and note of the {describe(checkpoint)}.{kept}")

        attempt(page, "Not saved", save)

    def session_fields(self, tab: str | None) -> tuple[str, str, bool]:
        """The session's tags (comma-separated), notes and pin."""
        session_id = self.page(tab).session_id
        try:
            meta = self.store.get_session(session_id) if session_id else None
        except SessionManagerError:
            meta = None
        return (", ".join(meta.tags), meta.notes, meta.pinned) if meta else ("", "", False)

    def save_session_fields(self, tab: str | None, tags: str, notes: str, pinned: bool) -> None:
        page = self.page(tab)
        if not page.session_id:
            page.notify("Select a session first: its tags and notes are saved with it.")
            return
        session_id = page.session_id
        cleaned = parse_tags(tags)

        def save() -> None:
            self.store.update_session(session_id, tags=cleaned, notes=notes or "", pinned=bool(pinned))
            shown = ", ".join(cleaned) if cleaned else "no tags"
            page.notify(f"Saved the session's notes ({shown}){'; pinned' if pinned else ''}. Search finds them; "
                        "“tag:NAME” lists a tag's sessions.")

        attempt(page, "Not saved", save)


def parse_tags(text: str | None) -> list[str]:
    """Tags typed as "a, b c" (commas split; spaces inside a tag stay): cleaned, without repeats."""
    tags = [" ".join(part.split())[:MAX_TAG_CHARS] for part in (text or "").split(",")]
    return list(dict.fromkeys(tag for tag in tags if tag))[:MAX_TAGS]


def attempt(page: Page, failed: str, action: Callable[[], Any]) -> Any:
    try:
        return action()
    except SessionManagerError as exc:
        page.notify(f"Warning: {failed}: {exc}")
        return None
