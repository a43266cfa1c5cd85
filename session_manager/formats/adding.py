"""Adding what the readers give to the store: each session once, many at a time when a file holds many.

A session whose origin is already in the store is not added again: when it is the present state of
a chat or prompt that changed since, its new state is added to that session as a checkpoint. A
session that follows a textgen prompt or chat already followed by another is skipped. New sessions
are added in batches (``SessionStore.add_bundles``: one sync, one lock, one index update each), so
a training file of 100,000 samples does not pay for 100,000 of each.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

from ..errors import CheckpointTooLarge, ImportFailed, NotFound, NothingToImport, SessionManagerError
from ..models import HostLink, SessionMeta, is_session_id
from ..store import SessionStore
from ..store.bundle import SessionBundle
from ..store.entry_size import import_refused
from .report import ImportItem, ImportReport, Status
from .session_archive import ORIGIN_PREFIX

BATCH = 500  # sessions built, synced and published together
Results = Iterable[tuple[str, SessionBundle | ImportFailed]]


class Adder:
    """Takes (label, bundle or reason) pairs into the store and writes one report line for each."""

    def __init__(self, store: SessionStore, report: ImportReport) -> None:
        self.store = store
        self.report = report
        self.links = _LinkIndex(store)

    def take(self, results: Results, dropped: list[str] | None = None,
             on_batch: Callable[[int], None] | None = None, batch_size: int = BATCH) -> None:
        """Add every session of ``results``; ``dropped`` (filled while reading) is said beside each one;
        ``on_batch`` hears how many sessions were handled so far. ``batch_size=1`` adds each session before
        the next is read (a reader whose files last only until then)."""
        batch: list[tuple[str, SessionBundle]] = []
        handled = 0
        for label, result in results:
            if isinstance(result, ImportFailed):
                self._add_batch(batch, "; ".join(dropped or []))  # the report keeps the file's order
                handled, batch = handled + len(batch), []
                status: Status = "skipped" if isinstance(result, NothingToImport) else "failed"
                self.report.add(ImportItem(label, status, str(result)))
            else:
                batch.append((label, result))
            if len(batch) >= batch_size:
                handled += len(batch)
                self._add_batch(batch, "; ".join(dropped or []))
                batch = []
                if on_batch is not None:
                    on_batch(handled)
        self._add_batch(batch, "; ".join(dropped or []))

    def _add_batch(self, batch: list[tuple[str, SessionBundle]], dropped: str) -> None:
        new: list[tuple[str, SessionBundle]] = []
        for label, bundle in batch:
            try:
                if not self._known(label, bundle):
                    new.append((label, bundle))
            except SessionManagerError as exc:
                self.report.add(ImportItem(label, "failed", f"{label}: {exc}"))
        if not new:
            return
        try:
            # One session alone (a chat file) is synced file by file; a sync of the whole disk is for batches.
            results: list[SessionMeta | ImportFailed] = (
                self.store.add_bundles([bundle for _, bundle in new]) if len(new) > 1 else _one(self.store, new[0][1]))
        except SessionManagerError as exc:
            for label, _ in new:
                self.report.add(ImportItem(label, "failed", f"{label}: {exc}"))
            return
        left_out = f" (left out {dropped})" if dropped else ""
        for (label, _), meta in zip(new, results, strict=True):
            if isinstance(meta, ImportFailed):
                self.report.add(ImportItem(label, "failed", f"{label}: {meta}"))
                continue
            self.links.add(meta)
            self.report.add(ImportItem(label, "imported", f"{label} -> {meta.name!r}{left_out}", meta.id, meta.name))

    def _known(self, label: str, bundle: SessionBundle) -> bool:
        """True (and reported) when the store already has this session, or a session following its chat."""
        existing = existing_session(self.store, bundle.meta.origin)
        if existing is not None:
            if _merge(self.store, existing, bundle):
                self.report.add(ImportItem(label, "updated", f"{label}: added its new state to {existing.name!r}",
                                           existing.id, existing.name))
            else:
                self.report.add(ImportItem(label, "skipped", f"{label} was already imported as {existing.name!r}",
                                           existing.id, existing.name))
            return True
        follower = self.links.get(bundle.meta.link)
        if follower is not None:
            self.report.add(ImportItem(label, "skipped", f"{label} is already followed by the session "
                                       f"{follower.name!r}", follower.id, follower.name))
            return True
        return False


def _one(store: SessionStore, bundle: SessionBundle) -> list[SessionMeta | ImportFailed]:
    try:
        return [store.add_bundle(bundle)]
    except ImportFailed as exc:
        return [exc]


def existing_session(store: SessionStore, origin: str | None) -> SessionMeta | None:
    """The session imported from ``origin`` before, or the very session an export of this tool was made from."""
    if not origin:
        return None
    found = store.find_by_origin(origin)
    source_id = origin[len(ORIGIN_PREFIX):] if origin.startswith(ORIGIN_PREFIX) else ""
    if found is None and is_session_id(source_id):
        with contextlib.suppress(NotFound):
            found = store.get_session(source_id)
    return found


def _merge(store: SessionStore, existing: SessionMeta, bundle: SessionBundle) -> int:
    """The new present state of a chat or prompt file goes into its session; a whole session is never merged."""
    if len(bundle.checkpoints) != 1:
        return 0
    checkpoint = bundle.checkpoints[0]
    if checkpoint.same_content(store.latest_state(existing.id)):
        return 0
    try:
        store.add_checkpoint(existing.id, checkpoint.model_copy(update={"kv": None}))
    except CheckpointTooLarge as exc:  # said as an import says it
        raise import_refused(exc.why) from exc
    return 1


class _LinkIndex:
    """Sessions that already follow a textgen prompt or chat (made by the extension, not by an import)."""

    def __init__(self, store: SessionStore) -> None:
        self._store = store
        self._by_link: dict[tuple[str, str, str | None], SessionMeta] | None = None

    def get(self, link: HostLink | None) -> SessionMeta | None:
        if link is None:
            return None
        if self._by_link is None:
            self._by_link = {}
            for row in self._store.list_sessions():
                self.add(row.meta)
        return self._by_link.get(_link_key(link))

    def add(self, meta: SessionMeta) -> None:
        if self._by_link is not None and meta.link is not None:
            self._by_link.setdefault(_link_key(meta.link), meta)


def _link_key(link: HostLink) -> tuple[str, str, str | None]:
    return link.kind, link.name, link.character
