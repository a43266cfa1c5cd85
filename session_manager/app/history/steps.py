"""Back and forward (undo and redo) through a page's own history: its session's checkpoints and the
autosaves in between, in time order.

Nothing is lost by stepping: a page with unsaved changes is autosaved before it steps, and a step
adds no entry to the history (it moves the session's present, see Autosaves.show_step), so
the newest state stays reachable by Forward. Where a page stands is kept per page in memory, and
on disk as the present autosave's ``restores``: after a restart the page steps on from there.

After a step the user may edit or generate; the next Back first returns to the state stepped to
(undoing what was done since), then goes on back in time. The Default and Notebook views of one
textgen prompt share its session: a step in one view passes over the other view's states, which
its boxes cannot show. A chat's Rewind is a move to an entry too (see ``rewound``): Forward goes on to
the turns it took away.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from ...chat_history import rows
from ...models import Checkpoint
from ...recording.page_mirror import Page, PageContent
from ...recording.recorder import Recorder, RestoreResult
from ..history_entries import Entry, load_entry, page_history

# Entries a step may pass over because they show what the page shows already (an autosave of the
# same text as the Stop after it): beyond this many the step lands anyway.
MAX_SKIPPED = 200


@dataclass(frozen=True)
class Step:
    """Where a step went: the entry, its place in the history (1 = oldest), and the restore it made."""

    entry: Entry
    place: int
    total: int
    restored: RestoreResult

    @property
    def newest(self) -> bool:
        return self.place == self.total


@dataclass(frozen=True)
class _Position:
    session_id: str
    entry: Entry
    content: PageContent  # what the step put into the page


class Steps:
    """The steps of every page of one recorder. Thread-safe."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.store = recorder.store
        self._positions: weakref.WeakKeyDictionary[Page, _Position] = weakref.WeakKeyDictionary()
        self._lock = threading.RLock()

    def step(self, page: Page, direction: int) -> Step | str:
        """One step back (-1) or forward (+1); a sentence instead when there is nowhere to go."""
        with self._lock:
            if page.dirty:
                self.recorder.autosave(page)  # the present is kept before the page shows an older state
            session_id = page.session_id
            if session_id is None:
                return "Nothing is saved in this page yet: there is no history to step through."
            entries = page_history(self.store, session_id)
            if not entries:
                return "This session has no saved states yet."
            start, returning = self._where(page, session_id, entries)
            if returning is not None and direction < 0:
                target = self._load(session_id, returning)
                if target is not None:
                    return self._go(page, session_id, entries, entries.index(returning), target)
            found = self._next(page, session_id, entries, start, direction)
            if found is None:
                return ("This is the oldest saved state of the session." if direction < 0 else
                        "This is the newest state: nothing to go forward to.")
            return self._go(page, session_id, entries, *found)

    def position(self, page: Page) -> Entry | None:
        """The entry the page shows because of a step (None: the page shows its newest state, or an edit)."""
        with self._lock:
            session_id = page.session_id
            if session_id is None:
                return None
            entries = page_history(self.store, session_id)
            index, _ = self._where(page, session_id, entries)
            return entries[index] if index < len(entries) else None

    def rewound(self, page: Page, session_id: str, checkpoint: Checkpoint) -> None:
        """A chat's Rewind put ``checkpoint`` of its history into the page: Back and Forward go on from there,
        as after steps to it (a Rewind to the newest state stands at the newest state)."""
        with self._lock:
            entries = page_history(self.store, session_id)
            wanted = checkpoint.restores or checkpoint.id
            index = next((i for i, entry in enumerate(entries) if entry.id == wanted), len(entries) - 1)
            if index == len(entries) - 1:
                self._positions.pop(page, None)
            else:
                self._positions[page] = _Position(session_id, entries[index], page.content)

    def forget(self, page: Page) -> None:
        """The page shows something else now (a restore, another session): it stands at its newest state."""
        with self._lock:
            self._positions.pop(page, None)

    # ----- helpers --------------------------------------------------------------------------

    def _where(self, page: Page, session_id: str, entries: list[Entry]) -> tuple[int, Entry | None]:
        """(index of the entry the page shows, len(entries) for the present; the entry a Back returns to
        first when the page moved on since its last step)."""
        known = self._positions.get(page)
        if known is not None and known.session_id == session_id and known.entry in entries:
            if _shows(page.content, known.content):
                return entries.index(known.entry), None
            return len(entries), known.entry
        # A restart (or another tab): the step the store remembers, while it is still the session's present.
        present = self.store.read_autosave(session_id)
        if present is not None and present.restores and _shows(page.content, PageContent.of(present)):
            newest = self.store.checkpoint_ids(session_id)[:1]
            if not newest or newest[0] < present.id:
                for index, entry in enumerate(entries):
                    if entry.id == present.restores:
                        return index, None
        return len(entries), None

    def _next(self, page: Page, session_id: str, entries: list[Entry], start: int,
              direction: int) -> tuple[int, Checkpoint] | None:
        """The next entry in ``direction`` that shows something other than the page (within MAX_SKIPPED)."""
        index, skipped = start + direction, 0
        while 0 <= index < len(entries):
            found = self._load(session_id, entries[index])
            if found is not None and not _other_view(found.mode, page.content.mode) and (
                    not _same_state(PageContent.of(found), page.content) or skipped >= MAX_SKIPPED):
                return index, found
            skipped += 1
            index += direction
        return None

    def _go(self, page: Page, session_id: str, entries: list[Entry], index: int, checkpoint: Checkpoint) -> Step:
        newest = index == len(entries) - 1
        restored = self.recorder.restore(page, session_id, checkpoint, step="newest" if newest else "to")
        if newest:
            self._positions.pop(page, None)
        else:
            self._positions[page] = _Position(session_id, entries[index], page.content)
        return Step(entries[index], index + 1, len(entries), restored)

    def _load(self, session_id: str, entry: Entry) -> Checkpoint | None:
        return load_entry(self.store, session_id, entry.choice)


def _other_view(state_mode: str, page_mode: str) -> bool:
    """A Default state seen from the Notebook view, or the other way round."""
    return {state_mode, page_mode} == {"default", "notebook"}


def _shows(page: PageContent, state: PageContent) -> bool:
    """The page still shows ``state``: the same texts or chat turns, give or take the spaces a host trims
    (parameters aside: hosts hand them back in their own types)."""
    if state.mode == "chat" or page.mode == "chat":
        return rows(page.history) == rows(state.history)
    return (page.input_text.strip(), page.output_text.strip()) == (state.input_text.strip(),
                                                                    state.output_text.strip())


def _same_state(page: PageContent, state: PageContent) -> bool:
    """Nothing to see in a step from ``page`` to ``state``: the same text and the same values of the
    parameters both know (a host's page may know fewer of them than a save)."""
    shared = page.params.keys() & state.params.keys()
    return _shows(page, state) and all(page.params[name] == state.params[name] for name in shared)
