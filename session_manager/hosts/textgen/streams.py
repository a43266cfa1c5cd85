"""Each generation's text as textgen streams it, seen through a wrapper on textgen's generator.

textgen runs every generation (the page's, the chat's, the API's) in ``text_generation._generate_reply``,
which yields the reply so far; ``generate_reply`` looks that function up by name at each call, so a
wrapper put in its place sees every reply as it passes and, in its ``finally``, every end: the last
reply, a Stop, or a closed browser tab (Gradio closes the generator). The hooks textgen calls inside
it (input_modifier, output_modifier) find their generation with ``current()``; a chat reply is told of
its generation as it starts (``install(started=...)``), since chatbot_wrapper calls no hook between building
the prompt and the end of the reply. Nothing is read from textgen's frames: what ``frame.f_locals`` gives
changed in Python 3.13 (PEP 667).
"""

from __future__ import annotations

import functools
import html
import inspect
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("session_manager")
FUNCTION = "_generate_reply"
_local = threading.local()  # the stream whose step runs on this thread now (Gradio steps on any worker)


@dataclass(eq=False)
class Stream:
    """One generation: its arguments as textgen passed them, and the last reply it yielded."""

    question: str
    for_ui: bool
    is_chat: bool
    escape_html: bool
    reply: str = ""
    done: threading.Event = field(default_factory=threading.Event)  # the generator has ended, however

    def shown(self) -> str:
        """What the Default/Notebook page shows: the question, then the reply (unescaped, as textgen shows it)."""
        text = self.question + self.reply
        return html.unescape(text) if self.escape_html else text


def current() -> Stream | None:
    """The generation whose step is running on this thread (a hook called by textgen sees its own)."""
    return getattr(_local, "stream", None)


def install(started: Callable[[Stream], None] | None = None) -> bool:
    """Wrap textgen's generator (once, also when setup() runs again); False when textgen has none.

    ``started`` is called with each stream as its generation begins, on the thread that runs it (textgen's
    caller, e.g. chatbot_wrapper, is up the stack then)."""
    try:
        from modules import text_generation
    except ImportError:
        return False
    function = getattr(text_generation, FUNCTION, None)
    original = getattr(function, "__wrapped__", function)
    if original is None or not inspect.isgeneratorfunction(original):
        return False
    setattr(text_generation, FUNCTION, wrap(original, started))
    return True


def wrap(original: Callable[..., Iterator[Any]],
         started: Callable[[Stream], None] | None = None) -> Callable[..., Iterator[Any]]:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def _generate_reply(*args: Any, **kwargs: Any) -> Iterator[Any]:
        try:
            given = signature.bind(*args, **kwargs)
        except TypeError:  # a call this version does not make: pass it through untouched
            yield from original(*args, **kwargs)
            return
        given.apply_defaults()
        stream = _stream_of(given.arguments)
        if started is not None:
            _tell(started, stream)
        yield from _observed(original(*args, **kwargs), stream)

    return _generate_reply


def _stream_of(arguments: dict[str, Any]) -> Stream:
    question = arguments.get("question")
    return Stream(question if isinstance(question, str) else "", bool(arguments.get("for_ui")),
                  bool(arguments.get("is_chat")), bool(arguments.get("escape_html")))


def _tell(started: Callable[[Stream], None], stream: Stream) -> None:
    try:
        started(stream)
    except Exception:  # a listener's failure never stops the generation
        log.exception("Session Manager: a generation's start was not followed")


def _observed(replies: Iterator[Any], stream: Stream) -> Iterator[Any]:
    try:
        while True:
            previous, _local.stream = current(), stream
            try:
                reply = next(replies)
            except StopIteration:
                return
            finally:
                _local.stream = previous
            if isinstance(reply, str):
                stream.reply = reply
            yield reply
    finally:
        close = getattr(replies, "close", None)
        if close is not None:
            close()
        stream.done.set()
