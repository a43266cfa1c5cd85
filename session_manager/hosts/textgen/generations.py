"""Page generations in flight: what textgen's hooks saw, and a save however each one ends.

textgen calls input_modifier before a generation and output_modifier after it (after Stop
too), both inside its ``_generate_reply`` generator; the stream that streams.py watches there
identifies the generation, so overlapping generations never mix. A generation that is cut short
(the browser tab closed) never reaches output_modifier: a watcher thread notices that it ended
and saves the text the page last showed, the stream's last reply.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ...models import GenerationStats
from ...recording.page_mirror import Page, PageContent
from ...recording.recorder import Recorder
from .host_adapter import TextgenHost
from .streams import Stream
from .watch import Watches

POLL_SECONDS = 0.25


@dataclass
class Generation:
    page: Page
    prompt: str  # the text textgen generates from: the input, or the output on Continue
    start: PageContent  # the page as the generation began (view, Default input, parameters)
    stream: Stream
    began: float = field(default_factory=time.monotonic)
    final: str | None = None  # the exact page text, from output_modifier
    ended: threading.Event = field(default_factory=threading.Event)

    def page_text(self) -> str:
        """What the page shows: textgen displays html.unescape(question + escaped reply)."""
        return self.final if self.final is not None else self.stream.shown()


class Generations:
    def __init__(self, recorder: Recorder, host: TextgenHost) -> None:
        self.recorder = recorder
        self.host = host
        self._watches: Watches[Generation] = Watches("session-manager-generation", self._save,
                                                     lambda g: g.page, "not saved on stop", recorder)
        self.ended: Callable[[Page, float, float], None] | None = None  # after the save: (page, began, ended)

    def start(self, page: Page, start: PageContent, stream: Stream) -> None:
        self.recorder.kv.holds(None)  # the engine's cache will be this text's, no chat's
        self._watches.start(stream, Generation(page, stream.question, start, stream))

    def finish(self, stream: Stream, escaped_reply: str) -> None:
        """output_modifier: the generation's exact final text."""
        generation = self._watches.get(stream)
        if generation is not None:
            generation.final = html.unescape(generation.prompt + escaped_reply)
            generation.ended.set()

    def wait(self, timeout: float = 60) -> None:
        self._watches.wait(timeout)

    def _save(self, generation: Generation) -> None:
        while not generation.ended.wait(POLL_SECONDS):
            if generation.stream.done.is_set() or not self.host.is_generating():  # ended without output_modifier
                break
        seconds = time.monotonic() - generation.began
        text = generation.page_text()
        self.host.wait_until_idle()
        self.recorder.generation_finished(generation.page, self._content(generation, text),
                                          stats=self._stats(generation, text, seconds))
        if self.ended is not None:
            self.ended(generation.page, generation.began, generation.began + seconds)

    def _content(self, generation: Generation, text: str) -> PageContent:
        start = generation.start
        return PageContent.generated(start.mode, start.input_text, text, start.params)

    def _stats(self, generation: Generation, text: str, seconds: float) -> GenerationStats:
        try:
            before, after = self.host.tokenize(generation.prompt), self.host.tokenize(text)
        except Exception:  # counting is a nicety; the save goes on without it
            before = after = None
        new_tokens = max(0, len(after) - len(before)) if before is not None and after is not None else None
        return GenerationStats(new_tokens=new_tokens, seconds=round(seconds, 3))
