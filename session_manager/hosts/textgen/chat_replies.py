"""textgen's Chat tab: every reply that ends is a checkpoint of the chat, with the prompt's KV cache.

textgen builds a chat reply in ``chatbot_wrapper``: it calls history_modifier first (our start
signal), then generates from the prompt it built, then output_modifier (after Stop too). That
generator's frame holds the prompt, the raw reply and the final history; a watcher thread waits
until it has finished, however it ended (a closed browser tab never reaches output_modifier),
and saves. A session follows textgen's chat id (``HostLink(kind="textgen-chat")``).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from ...models import ChatContext, GenerationStats, HostLink, Trigger
from ...recording.page_mirror import Page, PageContent, page_id
from ...recording.recorder import Recorder
from .host_adapter import TextgenHost
from .watch import Watches, generator_of, textgen_frame

log = logging.getLogger("session_manager")
FRAME = "chatbot_wrapper"
POLL_SECONDS = 0.25


def chat_link(unique_id: str | None, character: str | None, mode: str | None) -> HostLink | None:
    if not unique_id or unique_id.startswith("incognito-"):  # textgen keeps no file of these: neither do we
        return None
    chat_mode = mode if mode in ("chat", "chat-instruct", "instruct") else "chat"
    return HostLink(kind="textgen-chat", name=unique_id, character=None if chat_mode == "instruct" else character,
                    chat_mode=chat_mode)  # type: ignore[arg-type]


def chat_context(state: dict[str, Any]) -> ChatContext:
    mode = state.get("mode") if state.get("mode") in ("chat", "chat-instruct", "instruct") else "chat"
    return ChatContext(unique_id=state.get("unique_id"), chat_mode=mode, character=state.get("character_menu"),
                       user_name=state.get("name1"), instruction_template=state.get("instruction_template"))


def chat_frame() -> FrameType | None:
    return textgen_frame(FRAME)


@dataclass
class ChatReply:
    page: Page
    frame: FrameType
    generator: Any  # the chatbot_wrapper generator: its gi_frame turns None once it has finished
    began: float = field(default_factory=time.monotonic)
    hooked: threading.Event = field(default_factory=threading.Event)  # output_modifier ran

    @property
    def trigger(self) -> Trigger:
        locals_ = self.frame.f_locals
        return "regenerate" if locals_.get("regenerate") else "continue" if locals_.get("_continue") else "stop"

    def content(self, params: dict[str, Any]) -> PageContent:
        locals_ = self.frame.f_locals
        history = copy.deepcopy(locals_.get("output") or {})
        context = chat_context(locals_.get("state") or {})
        if context.unique_id is None and self.page.link is not None:  # a new chat's first reply: no id yet
            context = context.model_copy(update={"unique_id": self.page.link.name})
        return PageContent("chat", "", "", history, params, context)

    def kv_text(self) -> str | None:
        """The text the engine read and wrote: the prompt textgen built, then the reply."""
        locals_ = self.frame.f_locals
        prompt, reply = locals_.get("prompt"), locals_.get("reply")
        return prompt + (reply or "") if isinstance(prompt, str) else None


class ChatReplies:
    def __init__(self, recorder: Recorder, host: TextgenHost) -> None:
        self.recorder = recorder
        self.host = host
        self._watches: Watches[ChatReply] = Watches("session-manager-chat", self._save, lambda r: r.page,
                                                    "the chat reply was not saved")

    def start(self, tab: str | None, frame: FrameType) -> None:
        """history_modifier: a chat reply begins (UI chats only: the API's are left alone)."""
        if not frame.f_locals.get("for_ui"):
            return
        page = self.recorder.page(page_id(tab, "chat"))
        state = frame.f_locals.get("state") or {}
        link = chat_link(state.get("unique_id"), state.get("character_menu"), state.get("mode"))
        if link is not None and link != page.link:
            page.link = link
            found = self.recorder.store.find_by_link(link)
            page.session_id = found.id if found else None
        if page.session_id is not None:
            # After a restart or a reload: the cache of the chat as it stands, before textgen reads the prompt.
            self.recorder.kv.warm(page.session_id, frame.f_locals.get("history"))
        self._watches.start(frame, ChatReply(page, frame, generator_of(frame)))  # found now, while it runs

    def finish(self, frame: FrameType) -> None:
        """output_modifier: the reply is complete (textgen sets the visible text right after)."""
        reply = self._watches.get(frame)
        if reply is not None:
            reply.hooked.set()

    def wait(self, timeout: float = 60) -> None:
        self._watches.wait(timeout)

    def _save(self, reply: ChatReply) -> None:
        while not _finished(reply):
            time.sleep(POLL_SECONDS)
        seconds = time.monotonic() - reply.began
        self.host.wait_until_idle()
        page = reply.page
        if page.link is None:  # an incognito chat: textgen keeps nothing, so neither do we
            return
        from . import params_of

        content = reply.content(params_of(reply.frame.f_locals.get("state") or {}))
        page.update(**content.fields())
        if self.recorder.settings.current.save_on_stop:
            self.recorder.checkpoint(page, reply.trigger, content=content, kv_text=reply.kv_text(),
                                     stats=GenerationStats(seconds=round(seconds, 3)))
        self.recorder.kv.holds(page.session_id)  # the engine just read this chat, snapshot or not


def _finished(reply: ChatReply) -> bool:
    """chatbot_wrapper has returned (or was closed): its frame holds the final history."""
    return reply.generator.gi_frame is None if reply.generator is not None else reply.hooked.is_set()
