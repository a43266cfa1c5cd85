"""A session as a document to read or share: Markdown, or one self-contained HTML page.

Both show the session's notes and tags, then its checkpoints oldest first, each with its time, what
made it, its label, pin and note, its model, and its text (a chat as its messages). Nothing in the
HTML is taken from the session without escaping, so a session cannot inject markup or script.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..atomic import write_text_atomic
from ..choices import DOCUMENT_SUFFIX, Choice, DocumentFormat
from ..models import Checkpoint, CheckpointMark, SessionMarks, SessionMeta
from ..store import SessionStore
from .messages import conversation
from .selection import choose_checkpoints, session_marks, shown_label

_STYLE = """
body { font: 16px/1.55 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #1f2328; }
h1 { margin-bottom: .2rem; } .facts, .when { color: #59636e; font-size: .9rem; }
section { border-top: 1px solid #d1d9e0; padding: .8rem 0; } h2 { font-size: 1.05rem; margin: .3rem 0; }
.text, .msg { white-space: pre-wrap; overflow-wrap: anywhere; }
.text { background: #f6f8fa; padding: .8rem; border-radius: 6px; font-family: ui-monospace, monospace; }
.msg { margin: .5rem 0; padding: .5rem .8rem; border-radius: 6px; background: #f6f8fa; }
.msg.user { background: #ddf4ff; } .msg.system { background: #fff8c5; } .who { font-weight: 600; display: block; }
.note, .notes { border-left: 3px solid #9a6700; padding-left: .6rem; color: #3b2300; white-space: pre-wrap; }
@media (prefers-color-scheme: dark) { body { background: #0d1117; color: #e6edf3; }
  .text, .msg { background: #161b22; } .msg.user { background: #0c2d48; } .msg.system { background: #2e2a10; }
  .note, .notes { color: #f2cc60; } }
"""


@dataclass(frozen=True)
class _Entry:
    checkpoint: Checkpoint
    label: str
    mark: CheckpointMark


def session_document(store: SessionStore, session_id: str, fmt: DocumentFormat,
                     choose: Collection[Choice] = ("all",)) -> str:
    """The whole document as text."""
    meta = store.get_session(session_id)
    marks = session_marks(store, session_id)
    checkpoints = choose_checkpoints(store, session_id, choose)
    autosave = store.read_autosave(session_id)
    if "all" in choose and autosave is not None and _newer_text(autosave, checkpoints):
        checkpoints.append(autosave)  # the text as it was last seen, when no checkpoint holds it
    entries = [_entry(c, marks) for c in checkpoints]
    return _markdown(meta, entries) if fmt == "markdown" else _html(meta, entries)


def export_document(store: SessionStore, session_id: str, dest_dir: Path, fmt: DocumentFormat,
                    choose: Collection[Choice] = ("all",)) -> Path:
    """Write the document into ``dest_dir`` (named after the session) and return its path."""
    meta = store.get_session(session_id)
    dest = Path(dest_dir) / f"{file_stem(meta)}{DOCUMENT_SUFFIX[fmt]}"
    write_text_atomic(dest, session_document(store, session_id, fmt, choose))
    return dest


def file_stem(meta: SessionMeta) -> str:
    """A file name for a session: the letters, digits, - and _ of its name, then its id (as exports name them)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in meta.name)[:40].strip("_")
    return f"{safe or 'session'}-{meta.id}"


def _newer_text(autosave: Checkpoint, checkpoints: list[Checkpoint]) -> bool:
    newest = max(checkpoints, key=lambda c: c.created, default=None)
    return newest is None or (autosave.created > newest.created and not autosave.same_content(newest))


def _entry(checkpoint: Checkpoint, marks: SessionMarks) -> _Entry:
    return _Entry(checkpoint, shown_label(checkpoint, marks), marks.marks.get(checkpoint.id, CheckpointMark()))


def _facts(meta: SessionMeta) -> list[str]:
    facts = [f"created {_when(meta.created)}", f"last change {_when(meta.updated)}", f"mode {meta.mode}"]
    if meta.tags:
        facts.append("tags " + ", ".join(meta.tags))
    return facts


def _heading(entry: _Entry) -> str:
    c = entry.checkpoint
    parts = [_when(c.created), c.trigger] + ([entry.label] if entry.label else []) + (["pinned"] if entry.mark.pinned
                                                                                       else [])
    return " · ".join(parts)


def _details(checkpoint: Checkpoint) -> str:
    parts = []
    if checkpoint.model.name:
        parts.append(f"model {checkpoint.model.name}")
    if checkpoint.chat and checkpoint.chat.character:
        parts.append(f"character {checkpoint.chat.character}")
    if checkpoint.seed is not None:
        parts.append(f"seed {checkpoint.seed}")
    return " · ".join(parts)


def _speakers(checkpoint: Checkpoint) -> dict[str, str]:
    chat = checkpoint.chat
    return {"system": "System", "user": (chat.user_name if chat and chat.user_name else "You"),
            "assistant": (chat.character if chat and chat.character else "Assistant")}


def _markdown(meta: SessionMeta, entries: list[_Entry]) -> str:
    parts = [f"# {_md_line(meta.name)}", "", f"*{' · '.join(_facts(meta))}*", ""]
    if meta.notes.strip():
        parts += [_quote(meta.notes), ""]
    for entry in entries:
        c = entry.checkpoint
        parts += [f"## {_md_line(_heading(entry))}", ""]
        if entry.mark.note.strip():
            parts += [_quote(entry.mark.note), ""]
        if _details(c):
            parts += [f"*{_md_line(_details(c))}*", ""]
        if c.mode == "chat":
            names = _speakers(c)
            for message in conversation(c):
                parts += [f"**{_md_line(names[message.role])}:**", "", message.content, ""]
        else:
            parts += [_fence(c.text), ""]
    return "\n".join(parts).rstrip() + "\n"


def _html(meta: SessionMeta, entries: list[_Entry]) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{e(meta.name)}</title><style>{_STYLE}</style></head><body>",
           f"<h1>{e(meta.name)}</h1>", f'<p class="facts">{e(" · ".join(_facts(meta)))}</p>']
    if meta.notes.strip():
        out.append(f'<p class="notes">{e(meta.notes)}</p>')
    for entry in entries:
        c = entry.checkpoint
        out += ["<section>", f"<h2>{e(_heading(entry))}</h2>"]
        if entry.mark.note.strip():
            out.append(f'<p class="note">{e(entry.mark.note)}</p>')
        if _details(c):
            out.append(f'<p class="when">{e(_details(c))}</p>')
        if c.mode == "chat":
            names = _speakers(c)
            out += [f'<div class="msg {m.role}"><span class="who">{e(names[m.role])}</span>{e(m.content)}</div>'
                    for m in conversation(c)]
        else:
            out.append(f'<div class="text">{e(c.text)}</div>')
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def _md_line(text: str) -> str:
    """One line of Markdown that shows ``text`` as it is (no headings, emphasis or links made from it)."""
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", " ".join(text.split()))


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in text.strip().splitlines())


def _fence(text: str) -> str:
    """A fenced block longer than any run of backticks in the text, so the text cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"
