"""The demo's Chat tab: textgen's chat history format, the model's chat turns, the same panel.

Replies stream from the embedded model; every reply that ends (by itself, by Stop, Regenerate or
Continue) is a checkpoint with the KV cache of the prompt and the reply, so the next message
reads only the new turn, after a restart too (the session's newest snapshot is loaded first).
"""

from __future__ import annotations

import copy
import html
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

import gradio as gr

from ...chat_history import GREETING, empty_history, rows
from ...models import ChatContext, GenerationStats, Trigger
from ...recording.page_mirror import PageContent, page_id
from ...ui import ChatBinding, Panel, tab_of

if TYPE_CHECKING:
    from ...recording.recorder import Recorder


class ChatEngine(Protocol):
    """What the Chat tab needs of the demo's engine."""

    stop_event: threading.Event

    def stream(self, prompt: str, params: dict[str, Any], stop: list[str] | None = None) -> Iterator[str]: ...

# Gemma's turns (the embedded model's GGUF carries no chat template of its own).
TURN = "<start_of_turn>{role}\n{text}<end_of_turn>\n"
OPEN_REPLY = "<start_of_turn>model\n"
STOP = ["<end_of_turn>", "<start_of_turn>"]


def chat_prompt(history: dict[str, Any], partial_reply: str | None = None) -> str:
    """The prompt for the last row's reply: every earlier turn, the user's message, the reply so far."""
    parts = []
    for user, bot in rows(history)[:-1]:
        if user != GREETING:
            parts.append(TURN.format(role="user", text=user))
        parts.append(TURN.format(role="model", text=bot))
    last_user = rows(history)[-1][0]
    parts.append(TURN.format(role="user", text=last_user) + OPEN_REPLY + (partial_reply or ""))
    return "".join(parts)


def visible_pairs(history: dict[str, Any] | None) -> list[list[str | None]]:
    """What gr.Chatbot shows: the visible texts, the greeting without a user line."""
    return [[None if user == GREETING else html.unescape(user), html.unescape(bot)]
            for user, bot in ((history or {}).get("visible") or [])]


def build_chat_tab(host: ChatEngine, recorder: Recorder, panel: Panel, params: dict[str, Any]) -> ChatBinding:
    """The Chat tab's components and events; returns its binding for panel.finish()."""
    with gr.Tab("Chat"):
        history = gr.State(empty_history())
        chatbot = gr.Chatbot(label="Chat", height=420, elem_id="sm-demo-chat")
        with gr.Row():
            message = gr.Textbox(label="", placeholder="Send a message", scale=6, elem_id="chat-input")
            send = gr.Button("Send", variant="primary", scale=1, elem_id="chat-send")
            stop = gr.Button("Stop", scale=1, elem_id="chat-stop")
        with gr.Row():
            regenerate = gr.Button("Regenerate", elem_id="chat-regenerate")
            continue_ = gr.Button("Continue", elem_id="chat-continue")
            new_chat = gr.Button("New chat", elem_id="chat-new")
        binding = ChatBinding(history=history, display=chatbot, render=visible_pairs, params=params)
        panel.quick_bar(binding)

    def reply(request: gr.Request, text: str, chat: dict[str, Any], trigger: Trigger,
              values: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        page = recorder.page(page_id(tab_of(request), "chat"))
        chat = copy.deepcopy(chat if chat else empty_history())
        if page.session_id is not None:  # after a restart: the chat's cache, before the prompt is read
            recorder.kv.warm(page.session_id, chat)
        if trigger == "stop":
            chat["internal"].append([text, ""])
            chat["visible"].append([html.escape(text), ""])
        before = chat["internal"][-1][1] if trigger == "continue" else ""
        prompt = chat_prompt(chat, before)
        reply_text = ""
        stream = host.stream(prompt, dict(zip(params, values, strict=False)), stop=STOP)
        started, pieces = time.monotonic(), 0
        page.generating = True  # until generation_finished below: the timer leaves the page to that save
        try:
            yield "", chat, visible_pairs(chat)  # the box is emptied once: what is typed meanwhile stays
            for reply_text in stream:
                pieces += 1  # one token per piece
                chat["internal"][-1][1] = before + reply_text
                chat["visible"][-1][1] = html.escape(before + reply_text)
                yield gr.update(), chat, visible_pairs(chat)
        finally:
            stream.close()  # a cancelled page leaves the engine idle before the save takes its KV
            content = PageContent("chat", "", "", chat, dict(zip(params, values, strict=False)),
                                  ChatContext(chat_mode="chat"))
            stats = GenerationStats(new_tokens=pieces, seconds=round(time.monotonic() - started, 3))
            recorder.generation_finished(page, content, trigger, kv_text=prompt + reply_text, stats=stats)
        yield gr.update(), chat, visible_pairs(chat)

    def on_send(request: gr.Request, text: str, chat: dict[str, Any], *values: Any) -> Iterator[tuple[Any, ...]]:
        if text.strip():
            yield from reply(request, text, chat, "stop", values)

    def on_regenerate(request: gr.Request, chat: dict[str, Any], *values: Any) -> Iterator[tuple[Any, ...]]:
        if rows(chat):
            yield from reply(request, "", _without_last_reply(chat), "regenerate", values)

    def on_continue(request: gr.Request, chat: dict[str, Any], *values: Any) -> Iterator[tuple[Any, ...]]:
        if rows(chat):
            yield from reply(request, "", chat, "continue", values)

    def on_new_chat(request: gr.Request) -> tuple[Any, ...]:
        page = recorder.page(page_id(tab_of(request), "chat"))
        recorder.select_session(page, None)
        page.show(PageContent("chat", history=empty_history()), None)
        page.notify("A new chat: its session starts with the first reply.")
        return empty_history(), []

    param_components = list(params.values())
    outputs = [message, history, chatbot]
    # always_last: a message sent while the previous reply is still being saved is sent after it
    # (Gradio's default drops the click, and the message would sit in the box unsent).
    send.click(on_send, [message, history, *param_components], outputs, show_progress="hidden",
               trigger_mode="always_last")
    message.submit(on_send, [message, history, *param_components], outputs, show_progress="hidden",
                   trigger_mode="always_last")
    regenerate.click(on_regenerate, [history, *param_components], outputs, show_progress="hidden")
    continue_.click(on_continue, [history, *param_components], outputs, show_progress="hidden")
    stop.click(lambda: host.stop_event.set(), None, None, queue=False)
    new_chat.click(on_new_chat, None, [history, chatbot], queue=False)
    return binding


def _without_last_reply(chat: dict[str, Any]) -> dict[str, Any]:
    chat = copy.deepcopy(chat)
    chat["internal"][-1][1] = ""
    chat["visible"][-1][1] = ""
    return chat
