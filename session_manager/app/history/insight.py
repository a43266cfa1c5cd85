"""Looking at the history without changing it, for the panel: diffs, runs side by side, and stats."""

from __future__ import annotations

from ...models import Checkpoint
from ...recording.kv_policy import describe
from ...recording.page_mirror import attempt
from ...recording.recorder import Recorder
from ...store import SessionSummary
from ...timefmt import short
from ..history_entries import PAGE_CHOICE, autosave_choice, id_time, load_entry
from ..panel_state import SESSION_LIMIT, Choice, session_choice
from .compare import MAX_RUNS, load_runs, render_runs, run_ref
from .desk import PageOf
from .diff import diff_states
from .diff_html import Layout, render_diff
from .drawing import empty
from .stats import session_stats, store_stats
from .stats_html import render_stats

DIFF_CHOICES = 500  # newest entries offered in the diff's pickers


class InsightDesk:
    def __init__(self, recorder: Recorder, page: PageOf) -> None:
        self.recorder = recorder
        self.store = recorder.store
        self.page = page

    # ----- diff -----------------------------------------------------------------------------

    def diff_choices(self, tab: str | None, session_id: str | None = None) -> list[Choice]:
        """The page now, then the session's checkpoints and autosaves, newest first."""
        session_id = session_id or self.page(tab).session_id
        choices: list[Choice] = [("The page now", PAGE_CHOICE)]
        if not session_id:
            return choices
        dated = [(s.id, f"{short(s.created)} · {s.trigger}" + (f" · “{s.label}”" if s.label else ""), s.id)
                 for s in self.store.checkpoint_summaries(session_id, limit=DIFF_CHOICES)]
        autosaves = self.store.autosave_ids(session_id)
        dated += [(cid, f"{short(id_time(cid))} · autosave", autosave_choice(cid)) for cid in autosaves]
        choices += [(label, value) for _, label, value in sorted(dated, reverse=True)[:DIFF_CHOICES]]
        return choices

    def diff(self, tab: str | None, old: str | None, new: str | None, layout: Layout = "inline") -> str:
        page = self.page(tab)
        before, after = self._state(tab, old), self._state(tab, new)
        if before is None or after is None:
            page.notify("Pick two states to compare: a checkpoint, an autosave or the page now.")
            return empty("Pick two states to compare.")
        result = diff_states(before, after)
        page.notify(result.summary())
        return render_diff(result, _name(before, old), _name(after, new), layout)

    # ----- runs side by side ------------------------------------------------------------------

    def run_choices(self, session_id: str | None) -> list[Choice]:
        return [c for c in self.diff_choices(None, session_id) if c[1] != PAGE_CHOICE] if session_id else []

    def session_choices(self) -> list[Choice]:
        rows: list[SessionSummary] = self.store.list_sessions(limit=SESSION_LIMIT)  # as the manager offers
        return [session_choice(row) for row in rows]

    def add_run(self, tab: str | None, refs: list[str] | None, session_id: str | None,
                choice: str | None) -> list[str]:
        page = self.page(tab)
        refs = list(refs or [])
        if not session_id or load_entry(self.store, session_id, choice) is None:
            page.notify("Pick a session and one of its checkpoints to add to the comparison.")
            return refs
        ref = run_ref(session_id, str(choice))
        if ref in refs:
            page.notify("That checkpoint is in the comparison already.")
        elif len(refs) >= MAX_RUNS:
            page.notify(f"A comparison holds {MAX_RUNS} runs: clear it to start another.")
        else:
            refs.append(ref)
            page.notify(f"Added to the comparison ({len(refs)} of {MAX_RUNS}).")
        return refs

    def clear_runs(self, tab: str | None) -> list[str]:
        self.page(tab).notify("Cleared the comparison.")
        return []

    def runs(self, tab: str | None, refs: list[str] | None) -> str:
        page = self.page(tab)
        result = attempt(page, "Not compared", lambda: load_runs(self.store, list(refs or [])))
        if result is None:
            return empty("The comparison could not be read.")
        runs, gone = result
        if gone:
            page.notify(" ".join(gone))
        return render_runs(runs)

    # ----- stats ----------------------------------------------------------------------------

    def stats(self, tab: str | None) -> str:
        page = self.page(tab)

        def count() -> str:
            parts = []
            if page.session_id:
                name = self.store.get_session(page.session_id).name
                parts.append(render_stats(session_stats(self.store, page.session_id), f"This session: {name}"))
            parts.append(render_stats(store_stats(self.store), "All sessions"))
            page.notify("Stats counted.")
            return f'<div class="sm-stats-all">{"".join(parts)}</div>'

        return attempt(page, "No stats", count) or empty("The stats could not be counted.")

    def _state(self, tab: str | None, choice: str | None) -> Checkpoint | None:
        if choice == PAGE_CHOICE:
            page = self.page(tab)
            return page.content.to_checkpoint("manual", self.recorder.host.model_info())
        return load_entry(self.store, self.page(tab).session_id, choice)


def _name(checkpoint: Checkpoint, choice: str | None) -> str:
    return "the page now" if choice == PAGE_CHOICE else f"the {describe(checkpoint)}"
