"""What changed between two saved states: the text word by word, the parameters, the model and loader.

The standard library's difflib does the matching, in two passes so that long texts stay fast:
sentences first (a 20,000-word story has about a thousand), then words inside the sentences that
changed. A rewritten passage too large to match word by word is shown as removed and added whole.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Literal

from ...chat_history import text_of
from ...models import Checkpoint

Op = Literal["equal", "insert", "delete"]
# Sentences end at . ! ? … (with closing quotes or brackets) and the spaces after them, or at line breaks.
_SENTENCE = re.compile(r".*?(?:[.!?…]+[\"'”’)\]]*(?:\s+|$)|\n+|$)", re.S)
_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")
# Word-level matching of one changed passage costs about len(old) * len(new); above this it is shown whole.
MAX_PASSAGE_WORK = 4_000_000
MISSING = "—"


@dataclass(frozen=True)
class Piece:
    """A run of text that is in both (equal), only in the new (insert) or only in the old (delete)."""

    op: Op
    text: str


@dataclass(frozen=True)
class Hunk:
    """A stretch of the two texts: unchanged (one equal piece), or changed (pieces marked word by word)."""

    pieces: tuple[Piece, ...]

    @property
    def changed(self) -> bool:
        return any(p.op != "equal" for p in self.pieces)

    def side(self, which: Literal["old", "new"]) -> list[Piece]:
        hidden = "insert" if which == "old" else "delete"
        return [p for p in self.pieces if p.op != hidden]


@dataclass(frozen=True)
class Change:
    name: str
    old: str
    new: str


@dataclass(frozen=True)
class StateDiff:
    hunks: list[Hunk]
    params: list[Change]
    model: list[Change]  # model name, loader, loader settings

    def words(self, op: Op) -> int:
        return sum(_word_count(p.text) for h in self.hunks for p in h.pieces if p.op == op)

    @property
    def same_text(self) -> bool:
        return not any(h.changed for h in self.hunks)

    def summary(self) -> str:
        """One line for the status: what changed, in words."""
        if self.same_text and not self.params and not self.model:
            return "The two states are the same."
        parts = [f"{self.words('insert'):,} words added, {self.words('delete'):,} removed"
                 if not self.same_text else "the same text"]
        if self.params:
            parts.append(f"{len(self.params)} parameter(s) changed")
        if self.model:
            parts.append("model or loader changed")
        return "Compared: " + "; ".join(parts) + "."


def diff_states(old: Checkpoint, new: Checkpoint) -> StateDiff:
    return StateDiff(diff_text(state_text(old), state_text(new)), diff_params(old.params, new.params),
                     diff_model(old, new))


def state_text(checkpoint: Checkpoint) -> str:
    """The text a person reads: the chat's messages, or the page (the output holds the prompt)."""
    if checkpoint.history:
        return text_of(checkpoint.history)
    return checkpoint.text


def diff_text(old: str, new: str) -> list[Hunk]:
    a, b = _sentences(old), _sentences(new)
    hunks: list[Hunk] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        before, after = "".join(a[i1:i2]), "".join(b[j1:j2])
        if tag == "equal":
            _append(hunks, Hunk((Piece("equal", before),)), merge=True)
        else:
            _append(hunks, Hunk(tuple(_words(before, after))), merge=False)
    return hunks


def diff_params(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    return [Change(name, _shown(old.get(name, MISSING)), _shown(new.get(name, MISSING)))
            for name in sorted(set(old) | set(new)) if old.get(name, MISSING) != new.get(name, MISSING)]


def diff_model(old: Checkpoint, new: Checkpoint) -> list[Change]:
    changes = []
    for name, a, b in (("model", old.model.name, new.model.name), ("loader", old.model.loader, new.model.loader)):
        if a != b:
            changes.append(Change(name, _shown(a or MISSING), _shown(b or MISSING)))
    settings = diff_params(old.model.settings, new.model.settings)
    return changes + [Change(f"loader setting {c.name}", c.old, c.new) for c in settings]


# ----- helpers ------------------------------------------------------------------------------

def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.findall(text) if s]


def _words(before: str, after: str) -> list[Piece]:
    a, b = _TOKEN.findall(before), _TOKEN.findall(after)
    if len(a) * len(b) > MAX_PASSAGE_WORK:
        return [p for p in (Piece("delete", before), Piece("insert", after)) if p.text]
    pieces: list[Piece] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            pieces.append(Piece("equal", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(Piece("delete", "".join(a[i1:i2])))
        if j2 > j1:
            pieces.append(Piece("insert", "".join(b[j1:j2])))
    return _absorb_spaces(pieces)


def _absorb_spaces(pieces: list[Piece]) -> list[Piece]:
    """Changes separated only by spaces read as one change: "big old" -> "small new", not word by word."""
    out: list[Piece] = []
    removed: list[str] = []
    added: list[str] = []

    def flush() -> None:
        out.extend(Piece(op, "".join(texts)) for op, texts in (("delete", removed), ("insert", added)) if texts)
        removed.clear()
        added.clear()

    for k, piece in enumerate(pieces):
        between = (piece.op == "equal" and not piece.text.strip() and (removed or added)
                   and k + 1 < len(pieces) and pieces[k + 1].op != "equal")
        if piece.op == "equal" and not between:
            flush()
            out.append(piece)
            continue
        if piece.op != "insert":
            removed.append(piece.text)
        if piece.op != "delete":
            added.append(piece.text)
    flush()
    return out


def _append(hunks: list[Hunk], hunk: Hunk, merge: bool) -> None:
    if merge and hunks and not hunks[-1].changed:
        hunks[-1] = Hunk((Piece("equal", hunks[-1].pieces[0].text + hunk.pieces[0].text),))
    else:
        hunks.append(hunk)


def _word_count(text: str) -> int:
    return len(text.split())


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:119] + "…"
