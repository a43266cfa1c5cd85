"""Page generations in flight: what textgen's hooks saw, and a save however each one ends.

textgen calls input_modifier before a generation and output_modifier after it (after Stop
too), both inside its ``_generate_reply`` generator; that frame identifies the generation, so
overlapping generations never mix. A generation that is cut short (the browser tab closed)
never reaches output_modifier: a watcher thread notices that it ended and saves the text the
page last showed, which textgen's frame still holds.
"""

from __future__ import annotations

import html
import threading
import time
from dataclasses import dataclass, field
from types import FrameType

from ...models import GenerationStats
from ...recording.page_mirror import Page, PageContent
from ...recording.recorder import Recorder
from .host_adapter import TextgenHost
from .watch import Watches, textgen_frame

FRAME = "_generate_reply"  # textgen's generator that calls the input and output hooks
POLL_SECONDS = 0.25


@dataclass
class Generation:
    page: Page
    prompt: str  # the text textgen generates from: the input, or the output on Continue
    start: PageContent  # the page as the generation began (view, Default input, parameters)
    frame: FrameType
    began: float = field(default_factory=time.monotonic)
    final: str | None = None  # the exact page text, from output_modifier
    ended: threading.Event = field(default_factory=threading.Event)

    def page_text(self) -> str:
        """What the page shows: textgen displays html.unescape(question + escaped reply)."""
        if self.final is not None:
            return self.final
        reply = self.frame.f_locals.get("reply")
        return html.unescape(self.prompt + (reply if isinstance(reply, str) else ""))


def generation_frame() -> FrameType | None:
    """textgen's _generate_reply frame around the hook that calls this, or None."""
    return textgen_frame(FRAME)


class Generations:
    def __init__(self, recorder: Recorder, host: TextgenHost) -> None:
        self.recorder = recorder
        self.host = host
        self._watches: Watches[Generation] = Watches("session-manager-generation", self._save,
                                                     lambda g: g.page, "not saved on stop")

    def start(self, page: Page, prompt: str, start: PageContent, frame: FrameType) -> None:
        self.recorder.kv.holds(None)  # the engine's cache will be this text's, no chat's
        self._watches.start(frame, Generation(page, prompt, start, frame))

    def finish(self, frame: FrameType, escaped_reply: str) -> None:
        """output_modifier: the generation's exact final text."""
        generation = self._watches.get(frame)
        if generation is not None:
            generation.final = html.unescape(generation.prompt + escaped_reply)
            generation.ended.set()

    def wait(self, timeout: float = 60) -> None:
        self._watches.wait(timeout)

    def _save(self, generation: Generation) -> None:
        while not generation.ended.wait(POLL_SECONDS):
            if not self.host.is_generating():  # it ended without output_modifier: cut short
                break
        seconds = time.monotonic() - generation.began
        text = generation.page_text()
        self.host.wait_until_idle()
        self.recorder.generation_finished(generation.page, self._content(generation, text),
                                          stats=self._stats(generation, text, seconds))

    def _content(self, generation: Generation, text: str) -> PageContent:
        start = generation.start
        if start.mode == "notebook":
            return PageContent("notebook", text, "", None, start.params)
        return PageContent("default", start.input_text, text, None, start.params)

    def _stats(self, generation: Generation, text: str, seconds: float) -> GenerationStats:
        try:
            before, after = self.host.tokenize(generation.prompt), self.host.tokenize(text)
        except Exception:  # counting is a nicety; the save goes on without it
            before = after = None
        new_tokens = max(0, len(after) - len(before)) if before is not None and after is not None else None
        return GenerationStats(new_tokens=new_tokens, seconds=round(seconds, 3))
