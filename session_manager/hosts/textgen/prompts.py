"""textgen's own saved Default/Notebook text, and how Session Manager agrees with it.

textgen keeps the text of its selected prompt in ``user_data/logs/notebook/<prompt>.txt`` (the
Default view's input, or the Notebook's whole text) and shows it at page load. A session
follows that prompt (``HostLink(kind="textgen-prompt")``): textgen's file holds the present,
the session holds the history. At startup the newer of the two wins and the page shows one
saved state; a restore writes through the file and textgen's in-memory page state.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from ...atomic import write_text_atomic
from ...models import Checkpoint, HostLink, Mode
from ...recording.kv_policy import describe
from ...recording.page_mirror import Page, PageContent
from ...recording.presents import Present
from ...store import SessionStore

KIND = "textgen-prompt"


def prompt_link(name: str | None) -> HostLink | None:
    return HostLink(kind=KIND, name=name) if name else None


def file_text(content: PageContent | Checkpoint) -> str:
    """What textgen's prompt file holds for this content: the Default view saves only its input."""
    return content.input_text if content.mode == "default" else content.output_text or content.input_text


class PromptFiles:
    def __init__(self, user_data_dir: Path) -> None:
        self.folder = Path(user_data_dir) / "logs" / "notebook"

    def path(self, name: str) -> Path | None:
        # textgen's sanitize_filename: the last path component, without leading dots.
        safe = Path(name).name.lstrip(".")
        return self.folder / f"{safe}.txt" if safe else None

    def read(self, name: str) -> tuple[str, float] | None:
        """The prompt's text as textgen loads it (right-stripped) and the file's modification time."""
        path = self.path(name)
        if path is None:
            return None
        try:
            return path.read_text(encoding="utf-8").rstrip(), path.stat().st_mtime
        except (OSError, UnicodeDecodeError):
            return None

    def write_through(self, page: Page, checkpoint: Checkpoint) -> None:
        """Make textgen's file and its page state show ``checkpoint``, as after its own save."""
        name = page.link.name if page.link is not None and page.link.kind == KIND else current_prompt()
        path = self.path(name) if name else None
        if path is not None and name:
            text = file_text(checkpoint)
            with _pending_save_of(name, text):
                write_text_atomic(path, text)
        show_in_page_state(PageContent.of(checkpoint))

    def present_at_start(self, store: SessionStore, auto_load: str) -> Present:
        """What the page shows after a start: one saved state, and the words that say which."""
        name = current_prompt()
        link = prompt_link(name)
        mode: Mode = "default" if _setting("show_two_notebook_columns", False) else "notebook"
        saved = self.read(name) if name else None
        textgen_text, textgen_time = saved if saved else ("", 0.0)
        textgen_content = PageContent(mode=mode, input_text=textgen_text)
        meta = store.find_by_link(link) if link else None
        if meta is None or auto_load == "off":
            session_id = meta.id if meta else None
            return Present(session_id, textgen_content, link, f"Showing textgen's prompt “{name}”."
                           if session_id else f"Following textgen's prompt “{name}”; a session starts when you "
                           "write or generate.")
        latest = store.latest_state(meta.id)
        if latest is None:
            return Present(meta.id, textgen_content, link, f"Showing textgen's prompt “{name}”.")
        ours = _in_view(PageContent.of(latest), mode)
        if file_text(ours).rstrip() != textgen_text and textgen_time > latest.created.timestamp():
            return Present(meta.id, textgen_content, link, f"Loaded textgen's saved prompt “{name}”: it is newer "
                           f"than the {describe(latest)} of “{meta.name}”.")
        target = self.path(name) if name else None
        if file_text(ours).rstrip() != textgen_text and target is not None:
            write_text_atomic(target, file_text(ours))  # ours is newer: textgen's file follows
        show_in_page_state(ours)
        return Present(meta.id, ours, link, f"Loaded “{meta.name}” from its {describe(latest)}.")


@contextmanager
def _pending_save_of(name: str, text: str) -> Iterator[None]:
    """Write prompt ``name`` under textgen's own file lock, with its pending save (if any) turned to ``text``.

    textgen saves typed text one second after the last change (modules/ui_notebook.py, a timer): text
    typed just before a Restore would otherwise be written over the restored text, and a restart would
    bring it back. Without those names (another textgen) the file is written as it is.
    """
    try:
        from modules import ui_notebook
    except ImportError:
        yield
        return
    lock = getattr(ui_notebook, "_notebook_file_lock", None)
    with lock if lock is not None else nullcontext():
        if getattr(ui_notebook, "_last_notebook_prompt", None) == name:
            ui_notebook._last_notebook_text = text
        yield


def current_prompt() -> str | None:
    return _setting("prompt-notebook", None) or None


def show_in_page_state(content: PageContent) -> None:
    """textgen puts ``persistent_interface_state`` into every page it loads: make it show ``content``."""
    from modules import shared

    state: dict[str, Any] = shared.persistent_interface_state
    # Both views save into the prompt's one file when their box changes: both boxes get the file's text.
    state["textbox-notebook"] = state["textbox-default"] = file_text(content)
    state["output_textbox"] = content.output_text if content.mode == "default" else ""
    for key, value in content.params.items():
        if key in state or key in getattr(shared, "input_elements", []):
            state[key] = value


def _in_view(content: PageContent, mode: Mode) -> PageContent:
    """A saved state as the view textgen opens with shows it (the Notebook shows one text)."""
    if mode == content.mode:
        return content
    if mode == "notebook":
        return PageContent("notebook", content.text, "", content.history, content.params)
    return PageContent("default", content.input_text, "", content.history, content.params)


def _setting(key: str, default: Any) -> Any:
    from modules import shared

    return shared.settings.get(key, default)
