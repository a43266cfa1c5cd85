"""KV snapshots of checkpoints: when to take one, and which one to load on a restore.

The engines themselves live in kvstate/ (one protocol, one backend each); this module is the
policy between them and the store: the ``kv_snapshots`` setting, the disk budget, and the rule
that a snapshot is kept only for text the engine has really read (``PrefixMatch.usable``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..chat_history import rows
from ..errors import KVError, SessionManagerError
from ..kvstate import KVBackend, match_prefix
from ..kvstate.blob import read_blob_meta
from ..models import Checkpoint, Trigger
from ..settings import SettingsManager
from ..store import SessionStore
from ..timefmt import full
from .host_protocol import Host

log = logging.getLogger("session_manager")
CANDIDATES = 20  # newest snapshots of a session considered for a restore


@dataclass(frozen=True)
class KVRestore:
    restored: bool
    message: str  # for the status line; empty when there is nothing worth saying


class KVSnapshots:
    def __init__(self, store: SessionStore, settings: SettingsManager, host: Host) -> None:
        self.store = store
        self.settings = settings
        self.host = host
        self._holds: tuple[int, str] | None = None  # (engine, session) whose cache the engine holds now

    def holds(self, session_id: str | None) -> None:
        """Whose text the engine has just read (None: text of no session, e.g. an API call)."""
        backend = self.host.kv_backend() if session_id else None
        self._holds = (id(backend), session_id) if backend is not None and session_id else None

    def wanted(self, trigger: Trigger) -> bool:
        policy = self.settings.current.kv_snapshots
        return policy == "always" and trigger != "autosave" or policy == "manual" and trigger == "manual"

    def attach(self, session_id: str, checkpoint: Checkpoint, text: str | None = None) -> tuple[Checkpoint, str]:
        """The checkpoint with a KV snapshot when the engine holds ``text`` (default: its page text).

        Returns the checkpoint and a note for the status line. The text is saved whatever happens here.
        """
        try:
            backend = self.host.kv_backend()
            if backend is None:
                return checkpoint, ""
            if self.host.is_generating():
                return checkpoint, " (no KV snapshot: a generation is running)"
            tokens = self.host.tokenize(checkpoint.text if text is None else text)
            ref = backend.snapshot(self.store.kv_path(session_id, checkpoint.id), tokens)
        except KVError as exc:
            # A manual save of typed text is normal: the model has simply not read it. Say only the surprising.
            return checkpoint, "" if checkpoint.trigger == "manual" else f" (no KV snapshot: {exc})"
        except Exception:
            log.exception("KV snapshot failed")
            return checkpoint, " (no KV snapshot: unexpected error, see the log)"
        note = f" with its KV cache ({ref.n_tokens:,} tokens)"
        self.holds(session_id)
        self._drop_superseded(session_id, checkpoint.id, backend.rewind_limit())
        budget = self.settings.current.kv_budget_mb
        evicted = self.store.evict_kv(budget * 1024 * 1024, keep={checkpoint.id})
        if evicted:
            note += f"; {len(evicted)} older KV snapshot(s) removed to stay within {budget:,} MB"
        return checkpoint.model_copy(update={"kv": ref, "tokens": len(tokens) if tokens else None}), note

    def restore(self, session_id: str, checkpoint: Checkpoint, text: str | None = None) -> KVRestore:
        """Load the snapshot that covers most of ``text`` (default: the checkpoint's page text)."""
        own = checkpoint.kv is not None
        candidates = self._candidates(session_id, checkpoint)
        if not candidates:
            gone = "Its KV snapshot was removed to stay within the disk budget; Continue will re-read the text."
            return KVRestore(False, gone if own else "")
        try:
            backend = self.host.kv_backend()
            tokens = self.host.tokenize(checkpoint.text if text is None else text) if backend else None
            if backend is None or tokens is None:
                return KVRestore(False, "KV cache not restored: no model that can load it is running." if own else "")
            return self._restore_best(backend, session_id, checkpoint, candidates, tokens)
        except KVError as exc:
            return KVRestore(False, f"KV cache not restored: {exc}.")
        except Exception:
            log.exception("KV restore failed")
            return KVRestore(False, "KV cache not restored: unexpected error, see the log.")

    def warm(self, session_id: str, history: dict[str, Any] | None = None) -> KVRestore:
        """Load a snapshot of the session into an idle engine, so the next message starts at once.

        Without ``history``: the newest. With a chat's history: the newest snapshot that serves the chat as it
        stands (after a rewind, that of the turn rewound to, or a later one the engine can go back from).
        Nothing happens when the engine holds this session's text already, or is busy.
        """
        try:
            backend = self.host.kv_backend()
            if backend is None or self.host.is_generating() or self._holds == (id(backend), session_id):
                return KVRestore(False, "")
            for candidate in self._warm_candidates(session_id, history, backend.rewind_limit()):
                blob = self.store.kv_path(session_id, candidate.id)
                outcome = backend.restore(blob, read_blob_meta(blob).token_ids)
                if outcome.restored:
                    self.holds(session_id)
                    return KVRestore(True, f"KV cache of the {describe(candidate)} loaded ({outcome.n_tokens:,} "
                                           f"tokens in {outcome.seconds * 1000:.0f} ms): the next reply starts "
                                           "at once.")
                return KVRestore(False, "")  # the best one does not fit this engine: older ones would not either
        except KVError:
            return KVRestore(False, "")
        except Exception:
            log.exception("KV warm start failed")
        return KVRestore(False, "")

    def _warm_candidates(self, session_id: str, history: dict[str, Any] | None,
                         rewind_limit: int | None) -> list[Checkpoint]:
        newest = [c for c in self.store.list_checkpoints(session_id, limit=CANDIDATES)]
        present = rows(history)
        # How many tokens the chat as it stands has: known from a checkpoint of exactly this state.
        size = next((c.kv.n_tokens for c in newest if c.kv is not None and rows(c.history) == present), None)
        found = []
        for candidate in newest:
            if not self.store.has_kv(session_id, candidate) or candidate.kv is None:
                continue
            saved = rows(candidate.history)
            whole = history is None or saved == present[: len(saved)]
            back = saved[: len(present)] == present and size is not None and \
                (rewind_limit is None or candidate.kv.n_tokens - size <= rewind_limit)
            if whole or back:
                found.append(candidate)
        return found

    def _restore_best(self, backend: KVBackend, session_id: str, checkpoint: Checkpoint,
                      candidates: list[Checkpoint], tokens: list[int]) -> KVRestore:
        ranked = []
        for candidate in candidates:
            try:
                saved = read_blob_meta(self.store.kv_path(session_id, candidate.id)).token_ids
            except KVError:
                continue  # a damaged blob is reported by doctor; another one may still fit
            ranked.append((match_prefix(saved, tokens).shared, candidate.id == checkpoint.id, candidate))
        ranked.sort(key=lambda item: (item[0], item[1]), reverse=True)
        first_reason = ""
        for _, _, candidate in ranked:
            outcome = backend.restore(self.store.kv_path(session_id, candidate.id), tokens)
            if outcome.restored:
                self.holds(session_id)
                source = "" if candidate.id == checkpoint.id else f" from the {describe(candidate)}"
                tail = len(tokens) - outcome.reused
                rest = f"; Continue reads {tail:,} more" if tail > 1 else ""
                return KVRestore(True, f"KV cache restored{source} ({outcome.n_tokens:,} tokens in "
                                       f"{outcome.seconds * 1000:.0f} ms{rest}).")
            first_reason = first_reason or outcome.reason
        if checkpoint.kv is None:
            return KVRestore(False, "")
        return KVRestore(False, f"KV cache not restored: {first_reason or 'no snapshot fits this text'}.")

    def _drop_superseded(self, session_id: str, newest_id: str, rewind_limit: int | None) -> None:
        """Snapshots whose tokens the newest one holds in full are no longer needed when restoring the newest
        serves their checkpoints too (the engine keeps the shared start and drops the rest; with a sliding
        window only a window's worth can be dropped). What stays: the newest snapshot of each branch, those
        further back than the window, and the pinned ones."""
        try:
            newest = read_blob_meta(self.store.kv_path(session_id, newest_id)).token_ids
            superseded = []
            for row in self.store.checkpoint_summaries(session_id, limit=CANDIDATES):
                if row.id != newest_id and row.kv_present and not row.pinned:
                    older = read_blob_meta(self.store.kv_path(session_id, row.id)).token_ids
                    match = match_prefix(older, newest)
                    if match.shared == len(older) and (rewind_limit is None or len(newest) - len(older)
                                                       <= rewind_limit):
                        superseded.append(row.id)
            if superseded:
                self.store.remove_kv(session_id, superseded)
        except SessionManagerError:
            log.exception("tidying older KV snapshots failed")  # they stay; the disk budget still applies

    def _candidates(self, session_id: str, checkpoint: Checkpoint) -> list[Checkpoint]:
        """The checkpoint itself, then the session's newest checkpoints whose KV blob is still on disk."""
        newest = self.store.list_checkpoints(session_id, limit=CANDIDATES)
        ordered = [checkpoint] + [c for c in newest if c.id != checkpoint.id]
        return [c for c in ordered if self.store.has_kv(session_id, c)]


def describe(checkpoint: Checkpoint) -> str:
    """"autosave of 2026-11-23 13:45:07", "stop checkpoint of ..."."""
    kind = "autosave" if checkpoint.trigger == "autosave" else f"{checkpoint.trigger} checkpoint"
    return f"{kind} of {full(checkpoint.created)}"
