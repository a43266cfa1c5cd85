"""A write that fails on a full disk reports it and leaves nothing behind (issue 9: 5).

Runs on a real, small tmpfs (mounting one needs root; elsewhere the test is skipped with the
reason). The disk is filled and emptied again several times while checkpoints, autosaves,
renames, branches and imports are attempted: every call either succeeds completely or raises
the project's error with nothing of it on disk, and nothing saved before is lost.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from session_manager.errors import ImportFailed, StorageError
from session_manager.formats.session_archive import export_session, import_file
from session_manager.models import Checkpoint, new_checkpoint_id, utcnow
from session_manager.store import SessionStore
from session_manager.store.doctor import check_store
from session_manager.store.layout import STAGING

SIZE = 6 << 20


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", f"sm-test-{uuid.uuid4().hex[:6]}",
                           str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """A filler file that leaves about ``leave`` bytes free."""
    filler = disk / "filler"
    stats = os.statvfs(disk)
    with open(filler, "ab") as handle:
        handle.write(b"\0" * max(0, stats.f_bavail * stats.f_frsize - leave))
    return filler


def checkpoint(text: str) -> Checkpoint:
    return Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text=text, output_text=text)


def attempt_checkpoints(store: SessionStore, session_id: str, label: str, attempts: int, saved: set[str]) -> int:
    """Try to add checkpoints of ~12 KB; those saved join ``saved``. Returns how many failed, each leaving nothing."""
    failed = 0
    for attempt in range(attempts):
        candidate = checkpoint(f"{label} attempt {attempt} " + "x" * 6000)
        try:
            store.add_checkpoint(session_id, candidate)
            saved.add(candidate.id)
        except StorageError as exc:
            failed += 1
            assert "disk is full" in str(exc) or "not saved" in str(exc)
            assert not store.layout.checkpoint(session_id, candidate.id).exists()
        assert set(store.checkpoint_ids(session_id)) == saved
    return failed


def test_every_write_on_a_full_disk_succeeds_whole_or_leaves_nothing(small_disk: Path, tmp_path: Path) -> None:
    store = SessionStore(small_disk / "store")
    meta = store.create_session("before the disk filled")
    # A session.json larger than a checkpoint: on a nearly full disk the checkpoint fits and the
    # session.json rewrite after it does not, so the checkpoint must be taken back.
    store.update_session(meta.id, notes="n" * 60_000)
    first = store.add_checkpoint(meta.id, checkpoint("saved while there was room"))
    store.write_autosave(meta.id, checkpoint("an autosave while there was room"))
    exported = export_session(store, meta.id, tmp_path, "zip")
    saved = {first.id}
    failures = 0
    for cycle in range(8):
        filler = fill(small_disk, leave=(cycle % 4) * 40_000)
        failures += attempt_checkpoints(store, meta.id, f"cycle {cycle}", 12, saved)
        before = store.get_session(meta.id).name
        try:
            store.rename_session(meta.id, f"renamed in cycle {cycle}")
        except StorageError:
            assert store.get_session(meta.id).name == before
        sessions = {row.meta.id for row in store.list_sessions()}
        try:
            store.branch(meta.id, first.id, f"branch {cycle}")
        except StorageError:
            assert {row.meta.id for row in SessionStore(store.root).list_sessions()} == sessions
        try:
            import_file(store, exported)
        except (ImportFailed, StorageError):
            assert {row.meta.id for row in SessionStore(store.root).list_sessions()} <= sessions | {
                row.meta.id for row in store.list_sessions()}
        try:
            store.write_autosave(meta.id, checkpoint(f"autosave {cycle} " + "y" * 8000))
        except StorageError:
            assert store.read_autosave(meta.id) is not None  # the previous one is intact
        assert not [p for p in store.root.iterdir() if p.name.startswith(STAGING)]
        filler.unlink()
    assert failures > 0 and len(saved) > 8, "the disk never filled or never had room: nothing was tested"
    fresh = SessionStore(store.root)
    assert set(fresh.checkpoint_ids(meta.id)) == saved
    assert {c.id for c in fresh.list_checkpoints(meta.id)} == saved  # every acknowledged checkpoint reads back
    for row in fresh.list_sessions():
        assert fresh.checkpoint_ids(row.meta.id), f"{row.meta.name} is an empty session left by a failed write"
    assert [f for f in check_store(fresh) if f.severity == "error"] == []
