"""A KV snapshot is written through the store: into a staging file the store gives, under its lock, and it
appears together with its checkpoint or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from session_manager import atomic
from session_manager.errors import StorageError
from session_manager.kvstate.blob import read_blob_meta, write_blob
from session_manager.models import Checkpoint, KVRef, ModelFingerprint, new_checkpoint_id, utcnow
from session_manager.store import KVWriter, SessionStore
from session_manager.store.locking import StoreLock

FINGERPRINT = ModelFingerprint(file_name="m.gguf", file_size=10, sample_hash="ab", n_ctx=512)


def make_checkpoint(text: str) -> Checkpoint:
    return Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text=text, output_text=text + " and then")


def blob_writer(checkpoint: Checkpoint, tokens: list[int], seen: list[Path] | None = None) -> KVWriter:
    """What a backend does with the path it is given: write a real blob there."""

    def write(staged: Path) -> Checkpoint:
        if seen is not None:
            seen.append(staged)
        write_blob(staged, backend="llama-cpp-python", fingerprint=FINGERPRINT, token_ids=tokens, state=b"\x01" * 64)
        ref = KVRef(file=staged.name, bytes=staged.stat().st_size, n_tokens=len(tokens),
                    fingerprint=FINGERPRINT.digest(), backend="llama-cpp-python")
        return checkpoint.model_copy(update={"kv": ref})

    return write


def checkpoint_writes_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk refuses checkpoint files (a real OSError where the store's atomic write renames them)."""
    real_replace = os.replace

    def replace(src: str | Path, dst: str | Path) -> None:
        if Path(dst).parent.name == "checkpoints":
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)


def scratch_left(store: SessionStore) -> list[Path]:
    return [p for p in store.root.iterdir() if p.name.startswith(".") and p.is_dir()]


def test_the_snapshot_is_staged_inside_the_store_and_appears_with_its_checkpoint(store: SessionStore) -> None:
    session = store.create_session("s").id
    checkpoint = make_checkpoint("hello")
    seen: list[Path] = []
    final = store.kv_path(session, checkpoint.id)
    outside_blocked: list[bool] = []

    def write(staged: Path) -> Checkpoint:
        assert not final.exists(), "the blob appears only with its checkpoint"
        # The store's lock is held while the backend writes: another process (its own lock file handle) waits.
        with StoreLock(store.layout.lock).attempt(0.2) as got:
            outside_blocked.append(not got)
        return blob_writer(checkpoint, [1, 2, 3], seen)(staged)

    saved = store.add_checkpoint(session, checkpoint, kv=write)
    assert outside_blocked == [True]
    assert seen and seen[0].resolve().is_relative_to(store.root.resolve())
    assert seen[0].parent != final.parent
    assert store.has_kv(session, saved) and read_blob_meta(final).token_ids == [1, 2, 3]
    assert store.get_checkpoint(session, checkpoint.id).kv == saved.kv
    assert not seen[0].exists() and scratch_left(store) == []


def test_a_failed_checkpoint_write_keeps_neither_and_leaves_older_snapshots(store: SessionStore,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    session = store.create_session("s").id
    older = make_checkpoint("hello")
    store.add_checkpoint(session, older, kv=blob_writer(older, [1, 2, 3]))
    older_blob = store.kv_path(session, older.id).read_bytes()
    newer = make_checkpoint("hello there")
    checkpoint_writes_fail(monkeypatch)
    with pytest.raises(StorageError, match="disk is full"):
        store.add_checkpoint(session, newer, kv=blob_writer(newer, [1, 2, 3, 4, 5]))
    monkeypatch.undo()
    assert not store.kv_path(session, newer.id).exists()
    assert store.checkpoint_ids(session) == [older.id]
    assert store.kv_path(session, older.id).read_bytes() == older_blob
    assert scratch_left(store) == []


def test_a_writer_that_takes_no_snapshot_still_saves_the_text(store: SessionStore) -> None:
    session = store.create_session("s").id
    checkpoint = make_checkpoint("typed, never read by the model")
    saved = store.add_checkpoint(session, checkpoint, kv=lambda staged: checkpoint)
    assert saved.kv is None and store.get_checkpoint(session, checkpoint.id).input_text == checkpoint.input_text
    assert not store.kv_path(session, checkpoint.id).exists()


def test_a_writer_that_names_a_blob_it_did_not_write_saves_nothing(store: SessionStore) -> None:
    session = store.create_session("s").id
    checkpoint = make_checkpoint("hello")
    ref = KVRef(file=f"{checkpoint.id}.kv", bytes=1, n_tokens=1, fingerprint="f", backend="llama-cpp-python")
    with pytest.raises(StorageError, match="was not written"):
        store.add_checkpoint(session, checkpoint, kv=lambda staged: checkpoint.model_copy(update={"kv": ref}))
    assert store.checkpoint_ids(session) == []
