"""What the panel shows, computed from the store and a page, with no gradio: ``PanelState``.

The Gradio panel renders a PanelState into its components; everything a person reads there
(labels, the status line, the KV line, the JSON preview) is decided here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TypeGuard

from ..errors import SessionManagerError
from ..models import Checkpoint
from ..recording.page_mirror import Page
from ..store import SessionStore, SessionSummary
from ..store.scan import caption
from ..store.summaries import CheckpointSummary
from ..timefmt import full, short
from ..units import human_bytes
from .history_entries import AUTOSAVE_CHOICE, autosave_choice, entry_of, id_time, load_entry  # noqa: F401

PICKER_LIMIT = 200  # checkpoints offered in a picker (newest first)
SESSION_LIMIT = 100  # sessions offered in the session picker; search finds the others

Choice = tuple[str, str]  # (label, value), as Gradio's dropdowns take them


@dataclass(frozen=True)
class PanelState:
    """Everything the panel of one tab shows."""

    session_id: str | None
    session_line: str  # markdown: which session this tab records into
    status: str
    sessions: list[Choice]
    checkpoints: list[Choice]
    newest: str | None  # the choice a picker shows when its own selection is gone

    @property
    def status_line(self) -> str:
        return f"{self.session_line} · {self.status}"

    def valid(self, selected: str | None) -> str | None:
        """``selected`` when it is still a choice, else the newest: what Restore would restore."""
        return selected if selected in {value for _, value in self.checkpoints} else self.newest


@dataclass(frozen=True)
class SelectionDetails:
    """What the manager shows about the selected checkpoint."""

    kv_info: str
    preview: str  # the checkpoint as JSON


def panel_state(store: SessionStore, page: Page, query: str = "", wanted: list[str | None] | None = None,
                with_sessions: bool = True) -> PanelState:
    """``wanted``: choices the pickers hold or are given; each is offered even when the list leaves it out
    (an older checkpoint or an autosave picked on the timeline). Only the manager lists sessions: a quick
    bar's state leaves them out (``with_sessions=False``), a page of the index fewer per render."""
    session_id = page.session_id
    checkpoints = checkpoint_choices(store, session_id, wanted)
    return PanelState(
        session_id=session_id,
        session_line=session_line(store, session_id),
        status=_with_indexing(page.status if page.alert in ("", page.status) else f"{page.status} · {page.alert}",
                              store.upkeep.indexing.line()),
        sessions=session_choices(store, session_id, query) if with_sessions else [],
        checkpoints=checkpoints,
        newest=checkpoints[0][1] if checkpoints else None,
    )


def _with_indexing(status: str, indexing: str) -> str:
    # While a large store is indexed beside the page, the page says so (the list fills as it goes).
    return f"{status} · {indexing}" if indexing else status


def selection_details(store: SessionStore, session_id: str | None, choice: str | None) -> SelectionDetails:
    chosen = load_choice(store, session_id, choice)
    return SelectionDetails(kv_summary(store, session_id, chosen), json_preview(chosen))


def session_choices(store: SessionStore, current: str | None = None, query: str = "") -> list[Choice]:
    """(label, id) pairs, newest first; two sessions may share a name, so the label adds time and size."""
    words, tag = search_words(query)
    # One page from the index (ranked first when searching): the cost is the page's, not the store's.
    rows = store.search(words, tag=tag, limit=SESSION_LIMIT, snippets=False) if query.strip() \
        else store.list_sessions(limit=SESSION_LIMIT)
    choices = [session_choice(row) for row in rows]
    if current and current not in {value for _, value in choices}:
        try:
            meta = store.get_session(current)
            choices.insert(0, (f"{meta.name} · {short(meta.updated)}", meta.id))
        except SessionManagerError:
            pass
    return choices


def search_words(query: str) -> tuple[str, str | None]:
    """The words to search for, and the tag a "tag:NAME" word asks for (the last one given)."""
    words, tag = [], None
    for word in (query or "").split():
        if word.casefold().startswith("tag:") and len(word) > 4:
            tag = word[4:]
        else:
            words.append(word)
    return " ".join(words), tag


def session_choice(row: SessionSummary) -> Choice:
    return f"{row.meta.name} · {short(row.meta.updated)} · {row.n_checkpoints} cp", row.meta.id


def checkpoint_choices(store: SessionStore, session_id: str | None,
                       wanted: list[str | None] | None = None) -> list[Choice]:
    if not session_id:
        return []
    # From the index: a refresh never reads the checkpoint files, however long the session.
    dated = [(row.created, (summary_label(row), row.id))
             for row in store.checkpoint_summaries(session_id, limit=PICKER_LIMIT)]
    autosave = store.read_autosave(session_id)
    if autosave is not None:  # in its place in time: an autosave older than a Stop is not the newest entry
        dated.append((autosave.created, (autosave_label(autosave), autosave_choice(autosave.id))))
    listed = {value for _, (_, value) in dated}
    for choice in dict.fromkeys(c for c in wanted or [] if c is not None):
        entry = entry_of(choice)
        if entry is None or choice in listed or (autosave is not None and entry.id == autosave.id):
            continue
        found = load_entry(store, session_id, choice)
        if found is not None:
            label = autosave_label(found) if entry.kind == "autosave" else \
                checkpoint_label(found, store.has_kv(session_id, found))
            dated.append((found.created, (label, choice)))
    return [choice for _, choice in sorted(dated, key=lambda item: item[0], reverse=True)]


def autosave_label(autosave: Checkpoint) -> str:
    """An autosave in a picker; a step back (undo) says which state it brought back."""
    if autosave.restores:
        return f"{short(autosave.created)} · stepped back to {short(id_time(autosave.restores))}"
    return f"{short(autosave.created)} · autosave"


CHAT_TRIGGERS = {"stop": "reply", "regenerate": "regenerated", "continue": "continued", "swipe": "other version",
                 "rewind": "rewound here", "manual": "saved"}


def checkpoint_label(checkpoint: Checkpoint, kv_present: bool) -> str:
    kv = checkpoint.kv
    return _label(checkpoint.created, checkpoint.trigger, caption(checkpoint), checkpoint.label,
                  None if kv is None else kv.n_tokens if kv_present else 0)


def summary_label(row: CheckpointSummary) -> str:
    return _label(row.created, row.trigger, row.caption, row.label,
                  None if not row.kv else (row.kv_tokens or 0) if row.kv_present else 0)


def _label(created: datetime, trigger: str, chat_caption: str, label: str, kv_tokens: int | None) -> str:
    """"11-23 13:45:07 · stop · KV 812 tok"; a chat's: "... · turn 5 · reply · “what was said last”"."""
    parts = [short(created)]
    if chat_caption:  # a chat's timeline: which turn, and what was said last
        turn, _, said = chat_caption.partition(" · ")
        parts += [turn, CHAT_TRIGGERS.get(trigger, trigger)] + ([said] if said else [])
    else:
        parts.append(trigger)
    if label:
        parts.append(f"“{label}”")
    if kv_tokens is not None:
        parts.append(f"KV {kv_tokens} tok" if kv_tokens else "KV removed")
    return " · ".join(parts)


def is_saved_checkpoint(choice: str | None) -> TypeGuard[str]:
    """The choice names a checkpoint (not an autosave): one that can be deleted, branched from or marked."""
    entry = entry_of(choice)
    return entry is not None and entry.kind == "checkpoint"


def load_choice(store: SessionStore, session_id: str | None, choice: str | None) -> Checkpoint | None:
    """The checkpoint a picker entry names (an autosave entry names that autosave itself)."""
    return load_entry(store, session_id, choice)


def delete_question(store: SessionStore, session_id: str | None, choice: str | None = None) -> str:
    """What to ask before deleting the session (or, with ``choice``, one of its checkpoints); "" for nothing."""
    if not session_id:
        return ""
    if choice:
        checkpoint = load_choice(store, session_id, choice)
        if checkpoint is None or not is_saved_checkpoint(choice):
            return ""
        return f"Delete the checkpoint of **{md_escape(full(checkpoint.created))}**?"
    meta = store.get_session(session_id)
    count = len(store.checkpoint_ids(session_id))
    return f"Delete the session **{md_escape(meta.name)}** and its {count} checkpoint(s)? This cannot be undone."


def session_line(store: SessionStore, session_id: str | None) -> str:
    if not session_id:
        return "**Session:** none yet (one starts when you write or generate)"
    try:
        return f"**Session:** {md_escape(store.get_session(session_id).name)}"
    except SessionManagerError:
        return "**Session:** none"


def kv_summary(store: SessionStore, session_id: str | None, checkpoint: Checkpoint | None) -> str:
    if not session_id:
        return ""
    total = store.kv_bytes(session_id)
    line = f"KV snapshots in this session: {human_bytes(total) if total else 'none'}"
    if checkpoint is None:
        return line
    if checkpoint.kv is None:
        return f"{line}. The selected checkpoint has no KV snapshot."
    if not store.has_kv(session_id, checkpoint):
        return (f"{line}. The selected checkpoint's KV snapshot file is no longer on disk (removed by the disk "
                "budget, or deleted).")
    return (f"{line}. Selected: KV snapshot of {checkpoint.kv.n_tokens} tokens, "
            f"{human_bytes(checkpoint.kv.bytes)} ({checkpoint.kv.backend}).")


def json_preview(checkpoint: Checkpoint | None) -> str:
    if checkpoint is None:
        return ""
    return json.dumps(checkpoint.model_dump(mode="json"), indent=2, ensure_ascii=False)




def md_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "\\`*_{}[]()#+-.!|<>" else ch for ch in text)
