"""Markdown and HTML documents of a session: readable, with notes, and nothing from the session unescaped."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

from session_manager.formats import export_document, session_document
from session_manager.models import CheckpointMark
from session_manager.store import SessionStore

from .sessions import chat_session, checkpoint, default_session, write_marks

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def hostile_session(store: SessionStore) -> str:
    meta = store.create_session(f"Evil {HOSTILE}")
    store.update_session(meta.id, notes=f"note {HOSTILE}", tags=[HOSTILE])
    cp = store.add_checkpoint(meta.id, checkpoint(1, input_text=HOSTILE, output_text=HOSTILE + " & more ```",
                                                  label=HOSTILE))
    write_marks(store, meta.id, {cp.id: CheckpointMark(note=HOSTILE, pinned=True)})
    return meta.id


def test_html_escapes_everything_the_session_holds(store: SessionStore) -> None:
    page = session_document(store, hostile_session(store), "html")
    parser = _Tags()
    parser.feed(page)
    assert "script" not in parser.tags and "img" not in parser.tags
    text = "".join(parser.text)
    assert HOSTILE + " & more ```" in text and f"note {HOSTILE}" in text  # shown as text, whole
    assert page.count(html.escape(HOSTILE)) >= 5


def test_html_of_a_chat_shows_who_said_what_with_notes_and_pins(store: SessionStore, tmp_path: Path) -> None:
    chat = chat_session(store)
    path = export_document(store, chat, tmp_path, "html")
    assert path.name.startswith("Aria_at_the_inn-") and path.suffix == ".html"
    page = path.read_text(encoding="utf-8")
    assert '<span class="who">Ana</span>Any &lt;rooms&gt; free?' in page
    assert '<span class="who">Aria</span>One, up the stairs &amp; left.' in page
    assert "Where the map first shows up." in page and "Her first words." in page
    assert re.search(r"<h2>[^<]*· stop · hello · pinned</h2>", page)
    assert page.count("<section>") == 3


def test_markdown_keeps_text_whole_and_names_inert(store: SessionStore) -> None:
    doc = session_document(store, hostile_session(store), "markdown")
    title = doc.splitlines()[0]
    assert title.startswith("# Evil \\<script\\>")
    assert "````text\n" + HOSTILE + " & more ```\n````" in doc  # a fence longer than the text's backticks
    assert f"> {HOSTILE}" in doc  # the note, quoted


def test_markdown_of_default_and_chat_sessions(store: SessionStore) -> None:
    lighthouse = default_session(store)
    doc = session_document(store, lighthouse, "markdown", choose=["stops"])
    assert doc.count("## ") == 1 and "```text\nThe keeper climbed the stairs.\n```" in doc
    everything = session_document(store, lighthouse, "markdown")
    assert everything.count("## ") == 3 and everything.rstrip().endswith("```text\nThe keeper climbed the stairs. He"
                                                                       "\n```")  # the newer autosave, last
    chat = session_document(store, chat_session(store), "markdown", choose=["pinned"])
    assert "**Ana:**\n\nHi! Who are you?" in chat and "**Aria:**\n\nI'm Aria." in chat
    assert "> Her first words." in chat and "*model gemma-3-270m-q4\\_k\\_m.gguf · character Aria · seed 7*" in chat
