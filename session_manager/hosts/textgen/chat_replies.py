"""textgen's Chat tab: every reply that ends is a checkpoint of the chat, with the prompt's KV cache.

textgen builds a chat reply in ``chatbot_wrapper``: it calls history_modifier first (our start
signal), then generates from the prompt it built, then output_modifier (after Stop too). What the
save needs is kept from the start, on the reply's own thread: the history object textgen writes the
reply into (history_modifier's argument, changed in place to the end), the interface state, the
trigger, and the generation (streams.py) that gives the prompt the engine read and the reply it wrote.
A watcher thread waits until the reply has finished, however it ended (a closed browser tab never
reaches output_modifier), and saves; it never reads textgen's frame: once the generator is closed,
Python 3.13 drops the frame's locals (PEP 667). A session follows textgen's chat id
(``HostLink(kind="textgen-chat")``). A reply belongs to the chat it started in: since textgen 4.9 it
goes on while the user views another chat, so its chat and session are taken when it starts, never
from what the page shows when it ends.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from ...chat_history import rows
from ...models import ChatContext, GenerationStats, HostLink, Trigger
from ...recording.page_mirror import Page, PageContent, page_id, view_of
from ...recording.recorder import Recorder
from ...timefmt import clock
from .host_adapter import TextgenHost
from .streams import Stream
from .watch import Watches, ending_of, textgen_frame

log = logging.getLogger("session_manager")
FRAME = "chatbot_wrapper"
POLL_SECONDS = 0.25
BRANCH_SOURCES = 8  # the most recently changed sessions a Branch's first message looks among for its snapshot
STOPPING_WAIT_S = 10  # a stopped reply ends within a token or two; this only bounds a stuck one


def chat_link(unique_id: str | None, character: str | None, mode: str | None) -> HostLink | None:
    if not unique_id or unique_id.startswith("incognito-"):  # textgen keeps no file of these: neither do we
        return None
    chat_mode = mode if mode in ("chat", "chat-instruct", "instruct") else "chat"
    return HostLink(kind="textgen-chat", name=unique_id, character=None if chat_mode == "instruct" else character,
                    chat_mode=chat_mode)


def chat_context(state: dict[str, Any]) -> ChatContext:
    mode = state.get("mode") if state.get("mode") in ("chat", "chat-instruct", "instruct") else "chat"
    return ChatContext(unique_id=state.get("unique_id"), chat_mode=mode, character=state.get("character_menu"),
                       user_name=state.get("name1"), instruction_template=state.get("instruction_template"))


def chat_frame() -> FrameType | None:
    return textgen_frame(FRAME)


@dataclass
class ChatReply:
    """One reply, as kept from its start: nothing here is read from textgen's frame once the reply runs."""

    page: Page
    frame: FrameType  # chatbot_wrapper's: how the hooks find this reply (held, so that its id stays this reply's)
    is_over: Callable[[], bool] | None  # whether chatbot_wrapper has ended (None: its generator was not found)
    history: dict[str, Any]  # the history textgen writes this reply into, in place, to its end
    state: dict[str, Any]  # the interface state the reply was started with
    trigger: Trigger
    link: HostLink | None = None  # the chat it was started in (None: incognito)
    session_id: str | None = None  # that chat's session when it started (None: made at the first save)
    stream: Stream | None = None  # its generation: the prompt the engine read and the reply it wrote
    began: float = field(default_factory=time.monotonic)
    hooked: threading.Event = field(default_factory=threading.Event)  # output_modifier ran
    ended: float | None = None
    saved: threading.Event = field(default_factory=threading.Event)  # by its watcher, or by the next message
    saving: threading.Lock = field(default_factory=threading.Lock)

    def content(self, params: dict[str, Any]) -> PageContent:
        history = copy.deepcopy(self.history)
        context = chat_context(self.state)
        if context.unique_id is None and self.link is not None:  # a new chat's first reply: no id yet
            context = context.model_copy(update={"unique_id": self.link.name})
        return PageContent("chat", "", "", history, params, context)

    def kv_text(self) -> str | None:
        """The text the engine read and wrote: the prompt textgen built, then the reply, as generated."""
        return self.stream.question + self.stream.reply if self.stream is not None else None


class ChatReplies:
    def __init__(self, recorder: Recorder, host: TextgenHost) -> None:
        self.recorder = recorder
        self.host = host
        self._watches: Watches[ChatReply] = Watches("session-manager-chat", self._save, lambda r: r.page,
                                                    "the chat reply was not saved", recorder)
        self.ended: Callable[[Page, float, float], None] | None = None  # after the save: (page, began, ended)
        # A chat textgen gave no id (--multi-user keeps none): the link it is saved under, per browser tab.
        self.unnamed: Callable[[str | None], HostLink | None] | None = None

    def start(self, tab: str | None, frame: FrameType, history: dict[str, Any]) -> None:
        """history_modifier, on the reply's own thread (``history``: its argument, the object textgen writes the
        reply into): a chat reply begins (UI chats only: the API's are left alone)."""
        locals_ = frame.f_locals  # read now, while chatbot_wrapper runs on this thread, and never again
        if not locals_.get("for_ui"):
            return
        self._save_ended()
        page = self.recorder.page(page_id(tab, "chat"))
        state = locals_.get("state") or {}
        unique_id = state.get("unique_id")
        link = chat_link(unique_id, state.get("character_menu"), state.get("mode"))
        if link is None and self.unnamed is not None and not str(unique_id or "").startswith("incognito-"):
            link = self.unnamed(tab)
        if link is not None and link != page.link:
            page.link = link
            found = self.recorder.store.find_by_link(link)
            page.session_id = found.id if found else None
        # However the chat came on show (a restart, a new tab, a switch): the cache of the chat as it stands,
        # before textgen reads the prompt.
        self._warm(page.session_id, state.get("history"))
        if link is None and not str(unique_id or "").startswith("incognito-"):
            link = page.link  # a new chat's first reply: textgen has no id yet, the page follows its chat
        trigger: Trigger = "regenerate" if locals_.get("regenerate") else "continue" if locals_.get("_continue") \
            else "stop"
        reply = ChatReply(page, frame, ending_of(frame), history, state, trigger, link, page.session_id)
        self._watches.start(frame, reply)

    def streaming(self, frame: FrameType, stream: Stream) -> None:
        """textgen's generation of the reply in ``frame`` begins (the last one wins: a web search's query is
        generated first, in the same chatbot_wrapper)."""
        reply = self._watches.get(frame)
        if reply is not None:
            reply.stream = stream

    def _warm(self, session_id: str | None, history: dict[str, Any] | None) -> None:
        if session_id is not None:
            self.recorder.kv.warm(session_id, history)
            return
        # A chat with no session yet, which already has turns: a Branch. The chat it was made from has them too.
        present = rows(history)
        if not present:
            return
        store = self.recorder.store
        for row in store.list_sessions(limit=BRANCH_SOURCES):
            if row.meta.link is None or row.meta.link.kind != "textgen-chat":
                continue
            latest = store.latest_state(row.id)
            if latest is not None and rows(latest.history)[:1] == present[:1] and \
                    self.recorder.kv.warm(row.id, history).restored:
                return

    def finish(self, frame: FrameType) -> None:
        """output_modifier: the reply is complete (textgen sets the visible text right after)."""
        reply = self._watches.get(frame)
        if reply is not None:
            reply.hooked.set()

    def wait(self, timeout: float = 60) -> None:
        self._watches.wait(timeout)

    def _save_ended(self) -> None:
        """A message sent right after a Stop: the replies that have ended are saved now, with their KV cache,
        before textgen reads the next prompt into the engine (their watchers would wait for it to finish)."""
        for reply in self._watches.items():
            if not (_finished(reply) or reply.hooked.is_set()) and _stopping():
                # Send pressed the moment Stop brought it back: the stopped reply is still unwinding; this
                # message waits for textgen's generation lock anyway, so wait here and save it first.
                deadline = time.monotonic() + STOPPING_WAIT_S
                while not _finished(reply) and time.monotonic() < deadline:
                    time.sleep(0.02)
            if _finished(reply) or reply.hooked.is_set():
                self._save_now(reply)

    def _save(self, reply: ChatReply) -> None:
        while not _finished(reply):
            time.sleep(POLL_SECONDS)
        reply.ended = time.monotonic()
        while self.host.is_generating() and not reply.saved.is_set():  # the next message may save it first
            time.sleep(POLL_SECONDS)
        self._save_now(reply)

    def _save_now(self, reply: ChatReply) -> None:
        with reply.saving:
            if reply.saved.is_set():
                return
            reply.saved.set()
            self._write(reply, (reply.ended or time.monotonic()) - reply.began)

    def _write(self, reply: ChatReply, seconds: float) -> None:
        self.host.wait_until_idle()
        if reply.link is None:  # an incognito chat: textgen keeps nothing, so neither do we
            return
        from . import params_of

        content = reply.content(params_of(reply.state))
        page = _page_of_chat(reply)
        page.update(**content.fields())
        if self.recorder.settings.current.save_on_stop:
            with self.host.tokenizing_as(reply.state):
                self.recorder.checkpoint(page, reply.trigger, content=content, kv_text=reply.kv_text(),
                                         stats=GenerationStats(seconds=round(seconds, 3)))
            if page is not reply.page:
                reply.page.notify(f"The reply in the chat you left was saved to that chat's session at {clock()}.")
        self.recorder.kv.holds(page.session_id)  # the engine just read this chat, snapshot or not
        if self.ended is not None:
            self.ended(page, reply.began, reply.began + seconds)


def _page_of_chat(reply: ChatReply) -> Page:
    """The tab's page if it still shows the reply's chat; else a page of that chat alone, never shown,
    so that the reply goes to its own chat's session and the page the user views now is left as it is."""
    if reply.page.link == reply.link:
        return reply.page
    away = Page(page_id(f"{reply.page.tab_id}/away", view_of(reply.page.tab_id)), session_id=reply.session_id)
    away.link = reply.link
    return away


def _stopping() -> bool:
    """textgen's Stop was pressed and no generation has begun since (textgen clears the flag then)."""
    from modules import shared

    return bool(getattr(shared, "stop_everything", False))


def _finished(reply: ChatReply) -> bool:
    """chatbot_wrapper has returned (or was closed): the history it wrote into is final."""
    return reply.is_over() if reply.is_over is not None else reply.hooked.is_set()
