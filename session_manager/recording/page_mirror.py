"""The page a browser tab shows, mirrored: its content, its session, and what of it is saved.

Each browser tab has its own ``Page``. The host's interface mirrors every change of the tab's
text and parameters into it; autosave, save-on-stop, manual checkpoints and restore all read
that one mirror, so a save holds exactly what was on screen when it was taken.

A page is *dirty* when its content differs from its baseline: the content last saved, or last
put there by something other than the user. The host says which texts it may load into a page
(its saved prompt, what a restore wrote); a change to one of those is a load, not an edit, so
merely opening a page never makes a session. Any other change of the text is the user's (typing,
a generation streaming in). Parameters alone change at every page load: they count once the user
has edited or generated.

A host view echoes every write into it (a restore, a step) back as a change. When writes come quickly
(Back pressed twice) the echo of the first may arrive after the second: the page shows the second
state, and such a late echo is not taken for what it shows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar

from ..chat_history import rows
from ..errors import SessionManagerError
from ..models import ChatContext, Checkpoint, HostLink, Mode, ModelInfo, Trigger, new_checkpoint_id, utcnow

NOTHING_SAVED = "Nothing saved yet."
VIEWS = ("text", "chat")  # a browser tab has one page per kind of view: Default/Notebook, and Chat
# A tab that has been quiet this long and has nothing unsaved is forgotten.
IDLE_PAGE_SECONDS = 6 * 3600
# How long after a write into the page the echo of an earlier write may still arrive, and how many are kept.
ECHO_SECONDS = 10
ECHOED_WRITES = 4

T = TypeVar("T")


@dataclass(frozen=True)
class PageContent:
    """Everything of a page that a checkpoint keeps (the model comes from the host)."""

    mode: Mode = "default"
    input_text: str = ""
    output_text: str = ""
    history: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    chat: ChatContext | None = None

    @property
    def text(self) -> str:
        """The whole text: in the Default view the output holds the prompt and its continuation."""
        return self.output_text or self.input_text

    @property
    def empty(self) -> bool:
        turns = (self.history or {}).get("internal") or []
        return not (self.input_text or self.output_text or turns)

    def fields(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def generated(cls, mode: Mode, input_text: str, text: str, params: dict[str, Any]) -> PageContent:
        """A Default or Notebook page once a generation wrote ``text`` (the prompt and its continuation):
        Notebook shows it in its one box; Default keeps the input and shows it as the output."""
        if mode == "notebook":
            return cls("notebook", text, "", None, params)
        return cls("default", input_text, text, None, params)

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> PageContent:
        return cls(mode=checkpoint.mode, input_text=checkpoint.input_text, output_text=checkpoint.output_text,
                   history=checkpoint.history, params=dict(checkpoint.params), chat=checkpoint.chat)

    def to_checkpoint(self, trigger: Trigger, model: ModelInfo, label: str = "", **extra: Any) -> Checkpoint:
        return Checkpoint(id=new_checkpoint_id(), created=utcnow(), mode=self.mode, trigger=trigger, label=label,
                          input_text=self.input_text, output_text=self.output_text, history=self.history,
                          params=dict(self.params), model=model, seed=_int_or_none(self.params.get("seed")),
                          chat=self.chat, **extra)


def attempt(page: Page, failed: str, action: Callable[[], T]) -> T | None:
    """``action()``, or None when it fails with an error a person can act on: that goes to the page's status
    line as "Warning: <failed>: <why>" (what the panel does with every action a user starts)."""
    try:
        return action()
    except SessionManagerError as exc:
        page.notify(f"Warning: {failed}: {exc}")
        return None


def page_id(tab: str | None, view: str) -> str:
    return f"{tab or 'default'}/{view}"


def view_of(page_id: str) -> str:
    view = page_id.rpartition("/")[2]
    return view if view in VIEWS else "text"


class Page:
    """One view of one browser tab. Thread-safe: the interface, the hooks and the timer all touch it."""

    def __init__(self, tab_id: str, content: PageContent | None = None, session_id: str | None = None) -> None:
        self.tab_id = tab_id  # "<browser tab>/<view>" (page_id)
        self.session_id = session_id
        self.link: HostLink | None = None  # the textgen prompt or chat this tab shows
        self.status = NOTHING_SAVED
        self.alert = ""  # a warning that later messages must not hide
        self.revision = 0  # bumped whenever this tab's panel should redraw
        self.last_active = time.monotonic()  # any change: a tab quiet for hours is forgotten
        self.last_used = 0.0  # the user's own actions: which view of a tab is in use
        self._generating = False  # see ``generating``; only the Recorder changes it
        self._content = content or PageContent()
        self._baseline = self._content
        self._loads: set[str] = set(_texts(self._content))  # texts the host may load into this page
        self._edited = False  # the user has written or generated since the last load
        self._written: list[tuple[Any, ...]] = []  # the states show() put into the page lately, newest last
        self._written_at = 0.0
        self._lock = threading.RLock()

    @property
    def generating(self) -> bool:
        """A generation writes into this page: the autosave timer leaves it to the save at the generation's
        end, which would otherwise often find the same final text already autosaved a moment before."""
        return self._generating

    def mark_generating(self, on: bool) -> None:
        """For the Recorder (``generation_began``/``generation_ended``), the one owner of ``generating``."""
        self._generating = on

    @property
    def content(self) -> PageContent:
        with self._lock:
            return self._content

    @property
    def dirty(self) -> bool:
        with self._lock:
            return self._content != self._baseline and not self._content.empty

    def update(self, by_user: bool = False, load: bool = False, **fields: Any) -> None:
        """Mirror a change: ``by_user`` for edits the user made (typing, generating), ``load`` for what the
        host put there; otherwise a change of the text is an edit unless the host said it may load it."""
        fields = {k: v for k, v in fields.items() if v is not None or k == "history"}
        with self._lock:
            before, after = self._content, replace(self._content, **fields)
            if by_user:
                self._written = []
            elif self._late_echo(after):
                return
            moved = (after.input_text, after.output_text) != (before.input_text, before.output_text)
            if by_user or (moved and not load and not set(_texts(after)) <= self._loads):
                self._edited = True
            self._content = after
            if not self._edited:
                self._baseline = after
            self.last_active = time.monotonic()
            if by_user:
                self.last_used = self.last_active

    def update_param(self, name: str, value: Any, by_user: bool = False) -> None:
        with self._lock:
            self.update(by_user=by_user, params={**self._content.params, name: value})

    def show(self, content: PageContent, session_id: str | None, link: HostLink | None = None) -> None:
        """The page now shows ``content`` of ``session_id``, put there by us or the host: nothing unsaved."""
        with self._lock:
            self._content = self._baseline = content
            self._loads = set(_texts(content))
            self._edited = False
            self.session_id = session_id
            if link is not None:
                self.link = link
            self._written = [*self._written[1 - ECHOED_WRITES:], _shown(content)]
            self._written_at = time.monotonic()
        self.touch()

    def expect_load(self, texts: set[str]) -> None:
        """The host is about to load one of ``texts`` into the page (a prompt file): that is no edit."""
        with self._lock:
            self._loads = set(texts) | {""}
            self._edited = False
            self._written = []

    def _late_echo(self, content: PageContent) -> bool:
        """``content`` is what an earlier write put in, and the page still holds the write that came after it."""
        written = self._written
        if len(written) < 2 or time.monotonic() - self._written_at > ECHO_SECONDS:
            return False
        now = _shown(content)
        return now != written[-1] and now in written[:-1] and _shown(self._content) == written[-1]

    def mark_saved(self, content: PageContent) -> None:
        """``content`` is on disk; only what changed since it was captured stays unsaved."""
        with self._lock:
            self._baseline = content

    def warn(self, text: str) -> None:
        """A warning that stays on the status line after later messages (a routine autosave would hide it)."""
        self.alert = text
        self.notify(text)

    def notify(self, text: str) -> None:
        self.status = text
        self.last_used = self.last_active = time.monotonic()
        self.touch()

    def touch(self) -> None:
        self.revision += 1


class Pages:
    """Every tab's page; hooks that cannot tell their tab use the most recently active one."""

    def __init__(self) -> None:
        self._pages: dict[str, Page] = {}
        self._lock = threading.Lock()
        self._last: Page | None = None

    def get(self, tab_id: str | None, make: Any = None) -> Page:
        """The tab's page, made by ``make(tab_id)`` (or empty) the first time."""
        with self._lock:
            if tab_id is None:
                return self._last or self._make_locked(page_id(None, "text"), make)
            page = self._pages.get(tab_id) or self._make_locked(tab_id, make)
            self._last = page
            return page

    def __iter__(self) -> Iterator[Page]:
        with self._lock:
            return iter(list(self._pages.values()))

    def active(self, tab: str | None) -> Page | None:
        """The tab's page the user acted in last (the manager shows that one)."""
        with self._lock:
            mine = [p for v in VIEWS if (p := self._pages.get(page_id(tab, v))) is not None]
        return max(mine, key=lambda p: p.last_used) if mine else None

    def forget_idle(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            for tab_id, page in list(self._pages.items()):
                if now - page.last_active > IDLE_PAGE_SECONDS and not page.dirty and page is not self._last:
                    del self._pages[tab_id]

    def _make_locked(self, tab_id: str, make: Any) -> Page:
        page = make(tab_id) if make is not None else Page(tab_id)
        self._pages[tab_id] = page
        self._last = page
        return page


def _texts(content: PageContent) -> tuple[str, ...]:
    return content.input_text, content.output_text


def _shown(content: PageContent) -> tuple[Any, ...]:
    """What a host view shows of a state (give or take the spaces a host trims)."""
    return content.mode, content.input_text.strip(), content.output_text.strip(), str(rows(content.history))


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
