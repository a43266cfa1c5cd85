"""The KV size budget deletes the oldest .kv blobs first and nothing else."""

from __future__ import annotations

import os
from pathlib import Path

from session_manager.kvstate import BlobFile, enforce_budget, plan_eviction, scan_blobs


def _file(folder: Path, name: str, size: int, age: int) -> Path:
    path = folder / name
    path.write_bytes(b"x" * size)
    stamp = 1_700_000_000 + age
    os.utime(path, (stamp, stamp))
    return path


def test_oldest_blobs_go_first_until_under_budget(tmp_path: Path) -> None:
    a = _file(tmp_path, "a.kv", 100, age=3)  # newest
    b = _file(tmp_path, "b.kv", 100, age=1)  # oldest
    c = _file(tmp_path, "c.kv", 100, age=2)
    deleted = enforce_budget([a, b, c], budget_bytes=150)
    assert deleted == [b, c]
    assert a.exists() and not b.exists() and not c.exists()


def test_within_budget_nothing_is_deleted(tmp_path: Path) -> None:
    blobs = [_file(tmp_path, f"{i}.kv", 10, age=i) for i in range(3)]
    assert enforce_budget(blobs, budget_bytes=30) == []
    assert all(p.exists() for p in blobs)


def test_only_kv_files_are_counted_or_touched(tmp_path: Path) -> None:
    text = _file(tmp_path, "checkpoint.json", 10_000, age=0)
    folder_named_kv = tmp_path / "trap.kv"
    folder_named_kv.mkdir()
    old = _file(tmp_path, "old.kv", 100, age=1)
    new = _file(tmp_path, "new.kv", 100, age=2)
    deleted = enforce_budget([text, folder_named_kv, old, new], budget_bytes=100)
    assert deleted == [old]
    assert text.exists() and folder_named_kv.is_dir() and new.exists()


def test_kept_blobs_survive_even_over_budget(tmp_path: Path) -> None:
    old = _file(tmp_path, "old.kv", 100, age=1)
    new = _file(tmp_path, "new.kv", 100, age=2)
    assert enforce_budget([old, new], budget_bytes=50, keep=[old]) == [new]
    assert old.exists()


def test_zero_budget_deletes_every_blob_and_missing_files_are_skipped(tmp_path: Path) -> None:
    blobs = [_file(tmp_path, f"{i}.kv", 10, age=i) for i in range(3)]
    gone = tmp_path / "gone.kv"
    assert enforce_budget([*blobs, gone], budget_bytes=0) == blobs


def test_plan_is_pure_and_scan_finds_kv_files_in_folders(tmp_path: Path) -> None:
    one, two = tmp_path / "s1" / "kv", tmp_path / "s2" / "kv"
    one.mkdir(parents=True)
    two.mkdir(parents=True)
    _file(one, "x.kv", 10, age=5)
    _file(two, "y.kv", 10, age=4)
    _file(two, "notes.txt", 10, age=1)
    found = scan_blobs([one, two, tmp_path / "missing"])
    assert sorted(b.path.name for b in found) == ["x.kv", "y.kv"]
    plan = plan_eviction(found, budget_bytes=10)
    assert [b.path.name for b in plan] == ["y.kv"]
    assert (two / "y.kv").exists()  # planning deletes nothing
    synthetic = [BlobFile(Path("p.kv"), 2.0, 5), BlobFile(Path("q.kv"), 1.0, 5)]
    assert [b.path.name for b in plan_eviction(synthetic, budget_bytes=5)] == ["q.kv"]
