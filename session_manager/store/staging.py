"""A whole session put together beside the store, then moved into place in one rename.

Creating, branching and importing a session all build the new folder under
``<root>/.staging-<random>/`` (the same disk, so the final move is a rename), sync it, and
only then rename it to ``sessions/<id>``: a crash, a full disk or a bad file leaves no half
session behind, only a staging folder that is removed at once (or by doctor after a crash).
"""

from __future__ import annotations

import os
import secrets
import shutil
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ValidationError

from ..atomic import UnsafeFile, describe_os_error, fsync_dir, open_regular
from ..errors import BrokenFile, ImportFailed, KVError, StorageError
from ..models import Checkpoint, SessionMarks, SessionMeta, new_checkpoint_id, new_session_id, utcnow
from .bundle import SessionBundle
from .entry_size import import_refused, too_large
from .files import StoreFiles, describe_invalid
from .layout import AUTOSAVE_FILE, CHECKPOINTS, KV, MARKS_FILE, SESSION_FILE, STAGING, Layout, kv_file_name
from .layout import checkpoint_file_name as cp_name
from .scan import scan_written

if TYPE_CHECKING:
    from .catalog import Catalog
    from .locking import StoreLock

M = TypeVar("M", bound=BaseModel)
_COPY_CHUNK = 8 << 20


@dataclass
class StagedSession:
    """What goes into the new folder; ``blobs`` maps a checkpoint id to a verified blob file."""

    meta: SessionMeta
    checkpoints: list[Checkpoint] = field(default_factory=list)
    autosave: Checkpoint | None = None
    marks: SessionMarks | None = None
    blobs: dict[str, Path] = field(default_factory=dict)


@contextmanager
def scratch_folder(layout: Layout) -> Iterator[Path]:
    """A private folder inside the store's root (so files in it can be renamed into a session), removed after."""
    folder = layout.root / f"{STAGING}{secrets.token_hex(6)}"
    try:
        folder.mkdir()
    except OSError as exc:
        raise StorageError(describe_os_error(exc, folder)) from exc
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def build(layout: Layout, files: StoreFiles, staged: StagedSession, folder: Path, synced: bool = True) -> None:
    """Write every file of the session into ``folder`` (an empty scratch folder), synced.

    ``synced=False`` leaves the syncing to the caller (build_many syncs a whole batch at once)."""
    write = files.write if synced else write_unsynced
    if not synced:
        folder.mkdir()
    write(folder / SESSION_FILE, staged.meta)
    (folder / CHECKPOINTS).mkdir()
    for checkpoint in staged.checkpoints:
        write(folder / CHECKPOINTS / cp_name(checkpoint.id), checkpoint)
    if staged.autosave is not None:
        write(folder / AUTOSAVE_FILE, staged.autosave)
    if staged.marks is not None and staged.marks.marks:
        write(folder / MARKS_FILE, staged.marks)
    if staged.blobs:
        (folder / KV).mkdir()
        for checkpoint_id, source in staged.blobs.items():
            place_blob(source, folder / KV / kv_file_name(checkpoint_id), _in_scratch(layout, source))
        if synced:
            fsync_dir(folder / KV)
    if synced:
        fsync_dir(folder / CHECKPOINTS)
        fsync_dir(folder)


def publish(layout: Layout, folder: Path, session_id: str, synced: bool = True) -> None:
    """Rename the built folder to sessions/<id> (the caller holds the store lock)."""
    target = layout.session(session_id)
    try:
        layout.sessions.mkdir(exist_ok=True)
        os.rename(folder, target)
    except OSError as exc:
        raise StorageError(f"the session could not be put in place: {describe_os_error(exc, target)}") from exc
    if synced:
        fsync_dir(layout.sessions)


def build_many(layout: Layout, files: StoreFiles, bundles: list[SessionBundle], folder: Path,
               report: Callable[[BrokenFile], None]) -> list[StagedSession | ImportFailed]:
    """Many imported sessions built side by side in ``folder``, then synced to disk at once.

    Each is checked through as from_bundle does; one that fails gives its ImportFailed and no folder.
    Syncing every file of thousands of small sessions one by one is most of an import's time: the
    whole batch is written first and synced with one ``os.sync()`` before any of it is published.
    """
    built: list[StagedSession | ImportFailed] = []
    for index, bundle in enumerate(bundles):
        try:
            staged = from_bundle(bundle, report)
            build(layout, files, staged, folder / str(index), synced=False)
        except ImportFailed as exc:
            shutil.rmtree(folder / str(index), ignore_errors=True)
            built.append(exc)
            continue
        built.append(staged)
    os.sync()
    return built


def put_many_in_place(layout: Layout, files: StoreFiles, lock: StoreLock, catalog: Catalog,
                      bundles: list[SessionBundle], report: Callable[[BrokenFile], None]
                      ) -> list[SessionMeta | ImportFailed]:
    """SessionStore.add_bundles: build the batch, then under the lock publish it and index what was written."""
    with scratch_folder(layout) as folder:
        built = build_many(layout, files, bundles, folder, report)
        with lock.hold():
            before = layout.sessions_stamp()
            placed = [staged for staged in built if not isinstance(staged, ImportFailed)]
            for index, staged in enumerate(built):
                if not isinstance(staged, ImportFailed):
                    publish(layout, folder / str(index), staged.meta.id, synced=False)
            fsync_dir(layout.sessions)
            catalog.added([(s.meta.id, scan_written(layout, s.meta, s.checkpoints, s.autosave, s.marks))
                           for s in placed])
            catalog.sessions_moved(before)
    return [staged if isinstance(staged, ImportFailed) else staged.meta for staged in built]


def write_unsynced(path: Path, model: BaseModel) -> None:
    try:
        data = model.__pydantic_serializer__.to_json(model, indent=2)  # bytes: no copy of the text as str
    except (ValueError, UnicodeEncodeError) as exc:
        raise ImportFailed(f"{path.name} was not saved: part of its text is not valid Unicode ({exc})") from exc
    if isinstance(model, Checkpoint) and (why := too_large(data)):
        raise import_refused(why)
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise StorageError(describe_os_error(exc, path)) from exc


def _in_scratch(layout: Layout, path: Path) -> bool:
    """A file in one of this store's scratch folders may be moved; anything else (a user's file) is copied."""
    parent = Path(os.path.abspath(path)).parent
    return parent.parent == Path(os.path.abspath(layout.root)) and parent.name.startswith(STAGING)


def place_blob(source: Path, target: Path, movable: bool) -> None:
    if movable:
        try:
            os.replace(source, target)
            return
        except OSError:
            pass  # another disk after all: copy it
    try:
        fd = open_regular(source)
    except (OSError, UnsafeFile) as exc:
        raise KVError(f"cannot read the KV snapshot {source.name}: {exc}") from exc
    try:
        with os.fdopen(fd, "rb") as src, open(target, "xb") as dst:
            while chunk := src.read(_COPY_CHUNK):
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
    except OSError as exc:
        raise StorageError(describe_os_error(exc, target)) from exc


def from_bundle(bundle: SessionBundle, report: Callable[[BrokenFile], None]) -> StagedSession:
    """An import, checked through: every model validated again, ids made unique, every blob verified.

    The session gets a new id and is marked as changed now. A checkpoint whose id repeats an
    earlier one gets a new id (and no blob); a blob that fails verification is left out with its
    checkpoint's KV reference (the text is what matters) and reported.
    """
    from ..kvstate.blob import verify_blob  # zstandard is needed only to import blobs

    now = utcnow()
    meta = revalidated(SessionMeta, bundle.meta.model_copy(update={"id": new_session_id(now), "updated": now}))
    checkpoints: list[Checkpoint] = []
    seen: set[str] = set()
    for original in bundle.checkpoints:
        checkpoint = revalidated(Checkpoint, original)
        if checkpoint.id in seen:
            checkpoint = checkpoint.model_copy(update={"id": new_checkpoint_id(), "kv": None})
        seen.add(checkpoint.id)
        checkpoints.append(checkpoint)
    blobs: dict[str, Path] = {}
    for index, checkpoint in enumerate(checkpoints):
        source = bundle.blobs.get(checkpoint.id) if checkpoint.kv is not None else None
        if source is not None:
            try:
                verify_blob(source)
                blobs[checkpoint.id] = source
                continue
            except KVError as exc:
                report(BrokenFile(source, f"{exc}; this KV snapshot was not imported (the text was)", None))
        if checkpoint.kv is not None:
            checkpoints[index] = checkpoint.model_copy(update={"kv": None})
    autosave = revalidated(Checkpoint, bundle.autosave) if bundle.autosave is not None else None
    marks = None
    if bundle.marks is not None:
        kept = {cid: mark for cid, mark in revalidated(SessionMarks, bundle.marks).marks.items() if cid in seen}
        marks = SessionMarks(marks=kept)
    return StagedSession(meta, checkpoints, autosave, marks, blobs)


def revalidated(model_type: type[M], model: BaseModel) -> M:
    """The model checked as if read from a file (a bundle may hold models built without validation)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydantic warns while dumping a field of the wrong type
            return model_type.model_validate(model.model_dump(mode="json"))
    except ValidationError as exc:
        raise ImportFailed(f"nothing was imported: {describe_invalid(exc)}") from exc
