"""What a new browser tab starts with, per kind of view: the session and content shown last (auto-load)."""

from __future__ import annotations

from dataclasses import dataclass

from ..models import Checkpoint, HostLink
from ..settings import SettingsManager
from ..store import SessionStore
from .host_protocol import Host
from .kv_policy import describe
from .page_mirror import Page, PageContent, view_of


@dataclass(frozen=True)
class Present:
    """What a new tab starts with: the session and content shown last, and the status to greet it."""

    session_id: str | None = None
    content: PageContent = PageContent()
    link: HostLink | None = None
    status: str = "Nothing saved yet."
    alert: str = ""  # said on every page of the view after any other message (why nothing is kept, say)


def present_at_boot(store: SessionStore, settings: SettingsManager) -> tuple[str, Present, Checkpoint] | None:
    """Auto-load: (kind of view, its present, the state loaded) of the last or newest session, or None."""
    mode = settings.current.auto_load
    if mode == "off":
        return None
    target = settings.last_session if mode == "last" else None
    if target is None or store.session_summary(target) is None:
        newest = store.list_sessions(limit=1)  # one row, whatever the store's size
        target = newest[0].id if newest else None
    latest = store.latest_state(target) if target else None
    if target is None or latest is None:
        return None
    name = store.get_session(target).name
    view = "chat" if latest.mode == "chat" else "text"
    return view, Present(target, PageContent.of(latest), None, f"Loaded “{name}” from its {describe(latest)}."), latest


def first_page(page_id: str, present: Present, host: Host) -> Page:
    """A tab's new page, showing its view's present; the texts the host may load into it are expected."""
    page = Page(page_id, present.content, present.session_id)
    page.link = present.link
    page.status = present.status
    page.alert = present.alert
    shown = present.content
    page.expect_load({shown.input_text, shown.output_text} | host.loadable_texts(view_of(page_id), present.link))
    return page


def rewind(store: SessionStore, session_id: str, checkpoint: Checkpoint) -> None:
    """A chat's Rewind to ``checkpoint``: the present moves to it, as that many Back steps would. Nothing is
    added to the history, so Forward goes on to the turns the Rewind took away (until a new reply is newer)."""
    target = checkpoint.model_copy(update={"id": checkpoint.restores}) if checkpoint.restores else checkpoint
    newest = max(store.checkpoint_ids(session_id)[:1] + store.autosave_ids(session_id)[:1], default=None)
    if target.id != newest:
        store.show_step(session_id, target)
    elif (present := store.read_autosave(session_id)) is not None and present.restores:
        store.show_step(session_id, None)  # back to the newest state: the present is the newest autosave again
