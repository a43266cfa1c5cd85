"""Words and labels the panel shows, computed from the store (no gradio here)."""

from __future__ import annotations

from .models import Checkpoint
from .store import SessionStore, SessionSummary

AUTOSAVE_CHOICE = "autosave"
PICKER_LIMIT = 200


def human_bytes(size: int) -> str:
    if size <= 0:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def local_time(checkpoint: Checkpoint) -> str:
    return checkpoint.created.astimezone().strftime("%m-%d %H:%M:%S")


def session_choices(rows: list[SessionSummary]) -> list[tuple[str, str]]:
    """(label, id) pairs: two sessions may share a name, so the label adds time and size."""
    choices = []
    for row in rows:
        when = row.meta.updated.astimezone().strftime("%m-%d %H:%M")
        choices.append((f"{row.meta.name} · {when} · {row.n_checkpoints} cp", row.meta.id))
    return choices


def checkpoint_label(checkpoint: Checkpoint, kv_present: bool) -> str:
    parts = [local_time(checkpoint), checkpoint.trigger]
    if checkpoint.label:
        parts.append(f"“{checkpoint.label}”")
    if checkpoint.kv is not None:
        parts.append(f"KV {checkpoint.kv.n_tokens} tok" if kv_present else "KV removed")
    return " · ".join(parts)


def checkpoint_choices(store: SessionStore, session_id: str | None) -> list[tuple[str, str]]:
    if not session_id:
        return []
    choices = []
    autosave = store.read_autosave(session_id)
    if autosave is not None:
        choices.append((f"{local_time(autosave)} · autosave", AUTOSAVE_CHOICE))
    for checkpoint in store.list_checkpoints(session_id, limit=PICKER_LIMIT):
        present = store.has_kv(session_id, checkpoint)
        choices.append((checkpoint_label(checkpoint, present), checkpoint.id))
    return choices


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
        return f"{line}. The selected checkpoint's KV snapshot was removed by the size budget."
    return (f"{line}. Selected: KV snapshot of {checkpoint.kv.n_tokens} tokens, "
            f"{human_bytes(checkpoint.kv.bytes)} ({checkpoint.kv.backend}).")
