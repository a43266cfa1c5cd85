"""Runs side by side: checkpoints picked from any sessions (the same prompt with two models, or two
temperatures), with the parameters that differ between them, the prompt they share shown once, and
each continuation in its own column."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ...models import Checkpoint
from ...store import SessionStore
from ...timefmt import short
from ..history_entries import load_entry
from .diff import state_text
from .diff_html import CONTEXT_WORDS
from .drawing import attr, count

MAX_RUNS = 4


@dataclass(frozen=True)
class Run:
    session_id: str
    session_name: str
    choice: str
    checkpoint: Checkpoint

    @property
    def ref(self) -> str:
        return run_ref(self.session_id, self.choice)


def run_ref(session_id: str, choice: str) -> str:
    """How the panel keeps a picked run: "<session id>/<picker value>"."""
    return f"{session_id}/{choice}"


def load_runs(store: SessionStore, refs: list[str]) -> tuple[list[Run], list[str]]:
    """The runs ``refs`` name, and a sentence for each one that is gone (deleted since it was picked)."""
    runs, gone = [], []
    for ref in refs:
        session_id, _, choice = ref.partition("/")
        checkpoint = load_entry(store, session_id, choice)
        if checkpoint is None:
            gone.append(f"A picked checkpoint is gone ({ref}).")
            continue
        runs.append(Run(session_id, store.get_session(session_id).name, choice, checkpoint))
    return runs, gone


def render_runs(runs: list[Run]) -> str:
    if not runs:
        return ('<div class="sm-empty">Pick a session and a checkpoint, press “Add to comparison”; add up to '
                f'{MAX_RUNS} from any sessions.</div>')
    texts = [state_text(run.checkpoint) for run in runs]
    shared = _shared_start(texts) if len(runs) > 1 else ""
    head = "".join(f'<th>{attr(run.session_name)}<div class="sm-cmp-when">{attr(short(run.checkpoint.created))} · '
                   f'{attr(run.checkpoint.trigger)}</div></th>' for run in runs)
    rows = [_row("model", [run.checkpoint.model.name or "—" for run in runs]),
            _row("loader", [run.checkpoint.model.loader or "—" for run in runs])]
    names = sorted({name for run in runs for name in run.checkpoint.params})
    same = []
    for name in names:
        values = [_value(run.checkpoint.params.get(name)) for run in runs]
        if len(set(values)) > 1:
            rows.append(_row(name, values))
        else:
            same.append(f"{name} = {values[0]}")
    rows.append(_row("generation", [_speed(run.checkpoint) for run in runs]))
    continuations = "".join(f'<td class="sm-cmp-text">{attr(text[len(shared):])}</td>' for text in texts)
    prompt = _shared_block(shared, len(runs))
    alike = (f'<details class="sm-cmp-same"><summary>{count(len(same))} parameters are the same in every run'
             f'</summary>{attr(", ".join(same))}</details>') if same else ""
    return (f'<div class="sm-compare"><table class="sm-cmp-table"><tr><th></th>{head}</tr>{"".join(rows)}'
            f'{prompt}<tr><th>text</th>{continuations}</tr></table>{alike}</div>')


# ----- helpers ------------------------------------------------------------------------------

def _row(name: str, values: list[str]) -> str:
    differ = len(set(values)) > 1
    cells = "".join(f"<td>{attr(value)}</td>" for value in values)
    return f'<tr class="{"sm-cmp-differs" if differ else ""}"><th>{attr(name)}</th>{cells}</tr>'


def _shared_block(shared: str, columns: int) -> str:
    if not shared.strip():
        return ""
    words = shared.split()
    shown = shared if len(words) <= 3 * CONTEXT_WORDS else "… " + " ".join(words[-CONTEXT_WORDS:]) + " "
    return (f'<tr class="sm-cmp-shared"><th>shared start<div class="sm-cmp-when">{count(len(words))} words'
            f'</div></th><td colspan="{columns}">{attr(shown)}</td></tr>')


def _shared_start(texts: list[str]) -> str:
    """The start all texts share, cut back to a word boundary."""
    common = os.path.commonprefix(texts)
    if all(len(text) == len(common) for text in texts):
        return common
    cut = max(common.rfind(" "), common.rfind("\n"))
    return common[:cut + 1] if cut >= 0 else ""


def _value(value: object) -> str:
    return "—" if value is None else str(value)


def _speed(checkpoint: Checkpoint) -> str:
    stats = checkpoint.generation
    if stats is None or not stats.new_tokens:
        return f"{count(len(state_text(checkpoint).split()))} words"
    rate = f", {stats.new_tokens / stats.seconds:.1f} tok/s" if stats.seconds else ""
    return f"{count(stats.new_tokens)} new tokens{rate}"
