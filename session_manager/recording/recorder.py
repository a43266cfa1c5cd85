"""Turns what the pages show into saved work: sessions, checkpoints, autosaves, restores.

The recorder composes the pieces: ``Pages`` (one mirror per browser tab), the ``AutosaveTimer``,
``KVSnapshots`` (the KV policy) and the store. Hosts call ``generation_started`` /
``generation_finished`` from their hooks; the panel reaches it through the workspace.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Literal

from ..chat_history import first_message
from ..errors import NotFound, SessionManagerError
from ..models import Checkpoint, GenerationStats, HostLink, Mode, Trigger, utcnow
from ..settings import SettingsManager, session_name
from ..store import SessionStore
from ..timefmt import clock
from .autosave_timer import AutosaveTimer
from .host_protocol import Host
from .kv_policy import KVSnapshots, describe
from .page_mirror import Page, PageContent, Pages, view_of
from .presents import Present, first_page, present_at_boot, rewind

log = logging.getLogger("session_manager")

SAVED = {"manual": "Checkpoint saved", "stop": "Saved on stop", "auto-session": "New session started and saved",
         "branch": "Branch saved", "import": "Imported", "autosave": "Autosaved", "regenerate": "Saved the new reply",
         "continue": "Saved the continued reply", "swipe": "Saved the reply version", "rewind": "Saved the rewind"}


@dataclass(frozen=True)
class RestoreResult:
    checkpoint: Checkpoint
    messages: list[str]
    kv_restored: bool = False
    model_loaded: str | None = None  # the model a "Load model" restore loaded


@dataclass(frozen=True)
class Restored:
    view: str  # the kind of view the restored checkpoint belongs to
    result: RestoreResult


class Recorder:
    def __init__(self, store: SessionStore, settings: SettingsManager, host: Host) -> None:
        self.store = store
        self.settings = settings
        self.host = host
        self.kv = KVSnapshots(store, settings, host)
        self.pages = Pages()
        self.presents: dict[str, Present] = {}  # per kind of view: what a new tab's page starts with
        self.timer = AutosaveTimer(self.autosave_all, lambda: self.settings.current.autosave_interval,
                                   lambda: self.settings.current.autosave)
        self._session_lock = threading.RLock()

    def page(self, page_id: str | None) -> Page:
        """A tab's page (see page.page_id); a new one starts with what was shown last (the host agrees)."""
        return self.pages.get(page_id, self._new_page)

    # ----- sessions -------------------------------------------------------------------------

    def new_session(self, page: Page, name: str | None = None, link: HostLink | None = None) -> str:
        content = page.content
        about = content.input_text or content.text or first_message(content.history)
        name = name or session_name(self.settings.current.name_template, about, utcnow().astimezone(), content.mode)
        meta = self.store.create_session(name, mode=content.mode)
        if link is not None:
            meta = self.store.update_session(meta.id, link=link.model_dump())
        self.select_session(page, meta.id)
        return meta.id

    def select_session(self, page: Page, session_id: str | None) -> None:
        """Record the tab into ``session_id`` from now on (the page's text is not changed)."""
        if session_id is not None:
            self.store.get_session(session_id)  # raises NotFound for a stale id
        page.session_id = session_id
        page.touch()
        self.settings.remember_session(session_id)

    def ensure_session(self, page: Page) -> str:
        """The tab's session, found by the host link it follows or made now for the text on screen."""
        with self._session_lock:
            if page.session_id is not None:
                try:
                    self.store.get_session(page.session_id)
                    return page.session_id
                except NotFound:
                    page.session_id = None
            if page.link is not None:
                found = self.store.find_by_link(page.link)
                if found is not None:
                    self.select_session(page, found.id)
                    return found.id
            return self.new_session(page, link=page.link)

    # ----- saving ---------------------------------------------------------------------------

    def checkpoint(self, page: Page, trigger: Trigger = "manual", label: str = "",
                   content: PageContent | None = None, kv_text: str | None = None,
                   stats: GenerationStats | None = None) -> Checkpoint:
        """Save ``content`` (default: what the page shows now) as a checkpoint of the page's session."""
        content = content if content is not None else page.content
        session_id = self.ensure_session(page)
        checkpoint = content.to_checkpoint(trigger, self.host.model_info(), label, generation=stats)
        note = ""
        if self.kv.wanted(trigger):
            checkpoint, note = self.kv.save(session_id, checkpoint, kv_text)
        else:
            self.store.add_checkpoint(session_id, checkpoint)
        if page.session_id == session_id:
            page.mark_saved(content)
        self._remember(page, session_id, content)
        saved = "Reply saved" if checkpoint.trigger == "stop" and content.mode == "chat" else SAVED[checkpoint.trigger]
        page.notify(f"{saved} at {clock()}{note}.")
        return checkpoint

    def autosave(self, page: Page) -> bool:
        """Write the tab's rolling autosave if its page changed since the last save; True if written."""
        if not page.dirty:
            return False
        content = page.content
        session_id = self.ensure_session(page)
        written = self.store.write_autosave(session_id, content.to_checkpoint("autosave", self.host.model_info()))
        page.mark_saved(content)
        self._remember(page, session_id, content)
        if written:
            page.notify(f"Autosaved at {clock()}.")
        return written

    def autosave_all(self, during_generations: bool = False) -> None:
        """The timer's tick: every tab with unsaved changes, each reporting on its own status line.

        A page a generation is writing into is left alone unless ``during_generations`` (at shutdown):
        the generation's end saves it.
        """
        for page in self.pages:
            if not page.generating or during_generations:
                self._autosave_reporting(page)
        self.pages.forget_idle()

    def _autosave_reporting(self, page: Page) -> None:
        """Autosave; a failure is the tab's status line, never an exception (the caller goes on)."""
        try:
            self.autosave(page)
        except SessionManagerError as exc:
            page.notify(f"Warning: autosave failed: {exc}")
        except Exception:
            log.exception("autosave failed")
            page.notify("Warning: autosave failed; see the log.")

    # ----- generations ----------------------------------------------------------------------

    def generation_started(self, page: Page, prompt: str, mode: Mode) -> None:
        """Before a page generation: the user acted; a new prompt may start a new session (auto-session).

        What the user wrote is autosaved now, before the model writes onto it: the timer leaves the page
        alone until the generation's end.
        """
        page.update(by_user=True, mode=mode)
        session_id = page.session_id if self.settings.current.auto_session else None
        previous = self.store.latest_state(session_id) if session_id is not None else None
        new_prompt = previous is not None and not _continues(previous.text, prompt)
        if new_prompt:
            page.update(by_user=True, input_text=prompt, output_text="")
            self.new_session(page, link=page.link)
        if self.settings.current.autosave:
            self._autosave_reporting(page)
        if new_prompt:
            page.notify("The prompt changed: started a new session.")  # said last: no "Autosaved" hides it
        self.generation_began(page)

    def generation_began(self, page: Page) -> None:
        """A generation writes into ``page`` from now on: the autosave timer leaves it to the generation's save."""
        page.mark_generating(True)

    def generation_ended(self, page: Page) -> None:
        """The generation writing into ``page`` ended (saved or not): the autosave timer looks after it again."""
        page.mark_generating(False)

    def generation_finished(self, page: Page, content: PageContent, trigger: Trigger = "stop",
                            kv_text: str | None = None, stats: GenerationStats | None = None) -> Checkpoint | None:
        """Save-on-stop, once the engine is idle (its KV snapshot is taken here). The page counts as generating
        until it is saved: the page's script asks for its status until then."""
        try:
            page.update(by_user=True, **content.fields())
            if not self.settings.current.save_on_stop:
                return None
            return self.checkpoint(page, trigger, content=content, kv_text=kv_text, stats=stats)
        finally:
            self.generation_ended(page)

    # ----- restore --------------------------------------------------------------------------

    def restore(self, page: Page, session_id: str, checkpoint: Checkpoint, load_model: bool = False,
                step: Literal["to", "newest"] | None = None) -> RestoreResult:
        """Put ``checkpoint`` of ``session_id`` into the page (its text and parameters, its KV cache).

        ``step``: an undo/redo step to an entry of the history ("newest": to its newest state), which
        moves only the session's present (see Autosaves.show_step): the history gains no entry.
        """
        if page.dirty:
            self.autosave(page)  # the text on screen is kept before it is replaced
        self.select_session(page, session_id)
        message, loaded = ensure_model(self.host, checkpoint) if load_model else ("", None)
        content = PageContent.of(checkpoint)
        page.show(content, session_id)
        make_present(self.store, session_id, checkpoint, step)
        self._remember(page, session_id, content)
        self.host.page_restored(page, checkpoint)
        kv = self.kv.bring_back(session_id, checkpoint)
        messages = [m for m in (message, kv.message) if m]
        page.notify(f"Restored the {describe(checkpoint)}." + (" " + " ".join(messages) if messages else ""))
        return RestoreResult(checkpoint, messages, kv.restored, loaded)

    # ----- start and stop -------------------------------------------------------------------

    def boot(self) -> Checkpoint | None:
        """Auto-load: what a new tab shows first (the last or newest session's latest state)."""
        found = present_at_boot(self.store, self.settings)
        if found is None:
            return None
        view, self.presents[view], latest = found
        return latest

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> None:
        """Stop the timer and write what is still unsaved."""
        self.timer.stop()
        self.store.upkeep.unwatch()
        self.autosave_all(during_generations=True)

    # ----- helpers --------------------------------------------------------------------------

    def _new_page(self, page_id: str) -> Page:
        return first_page(page_id, self.presents.get(view_of(page_id), Present()), self.host)

    def _remember(self, page: Page, session_id: str, content: PageContent) -> None:
        view = view_of(page.tab_id)
        alert = self.presents[view].alert if view in self.presents else ""
        self.presents[view] = Present(session_id, content, page.link, page.status, alert)


def make_present(store: SessionStore, session_id: str, checkpoint: Checkpoint,
                 step: Literal["to", "newest"] | None = None) -> None:
    """A restored ``checkpoint`` is the session's present: a restart brings it back, not a newer state.

    An undo/redo ``step``, and a chat's Rewind, move only the present (the history gains no entry)."""
    if step is not None:
        store.show_step(session_id, None if step == "newest" else checkpoint)
        return
    if checkpoint.mode == "chat":
        rewind(store, session_id, checkpoint)
        return
    latest = store.latest_state(session_id)
    if latest is None or not latest.same_content(checkpoint):
        store.write_autosave(session_id, PageContent.of(checkpoint).to_checkpoint("autosave", checkpoint.model))


def ensure_model(host: Host, checkpoint: Checkpoint) -> tuple[str, str | None]:
    """Load the checkpoint's model unless it runs already: (what happened, the model loaded or None)."""
    wanted, current = checkpoint.model, host.model_info()
    if not wanted.name:
        return "The checkpoint names no model.", None
    if (current.name, current.loader, current.settings) == (wanted.name, wanted.loader, wanted.settings):
        return "", None
    message = host.load_model(wanted)
    return message, wanted.name if host.model_info().name == wanted.name else None


def _continues(previous_text: str, prompt: str) -> bool:
    """A prompt continues a session when it extends or shares the start of what was there."""
    old, new = previous_text.strip(), prompt.strip()
    if not old:
        return True
    head = min(len(old), len(new), 64)
    return new.startswith(old) or old.startswith(new) or (head > 0 and old[:head] == new[:head])
