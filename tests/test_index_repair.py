"""The index is a cache that never gives a wrong answer or a traceback (issue 24, item 5): damaged
rows are read again from their folders, a missing or damaged search table is rebuilt in the file,
doctor compares the index with the files, and readers do not wait on another process."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from session_manager import cli
from session_manager.models import Checkpoint, new_checkpoint_id, utcnow
from session_manager.store import SessionStore, indexing
from session_manager.store.doctor import check_store

WORDS = ["harbour", "lantern", "gull", "rope"]


def filled(root: Path, count: int = 24) -> tuple[SessionStore, list[str]]:
    store = SessionStore(root)
    ids = []
    for i in range(count):
        meta = store.create_session(f"session {i} {WORDS[i % 4]}")
        store.add_checkpoint(meta.id, Checkpoint(id=new_checkpoint_id(), created=utcnow(),
                                                 input_text=f"the lighthouse keeper number {i}"))
        ids.append(meta.id)
    store.close()
    return store, ids


def tamper(root: Path, *statements: str) -> None:
    """What a person (or a damaged disk) does to index.sqlite behind the store's back."""
    conn = sqlite3.connect(root / "index.sqlite", isolation_level=None)
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


def run(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.cli, ["--data-dir", str(root), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def names(store: SessionStore) -> set[str]:
    return {row.name for row in store.list_sessions(limit=None)}


def test_a_row_whose_json_does_not_validate_is_read_again(tmp_path: Path) -> None:
    store, ids = filled(tmp_path / "s", 5)
    tamper(store.root, f"UPDATE sessions SET meta_json = '{{not json' WHERE id = '{ids[2]}'")
    fresh = SessionStore(store.root)
    assert names(fresh) == {f"session {i} {WORDS[i % 4]}" for i in range(5)}
    code, out = run(store.root, "list", "--json")
    assert code == 0 and out.count('"id"') == 5
    assert fresh.find_session(ids[2]).name == "session 2 gull"


def test_a_count_that_is_not_a_number_is_read_again(tmp_path: Path) -> None:
    store, ids = filled(tmp_path / "s", 3)
    tamper(store.root, f"UPDATE sessions SET n_checkpoints = 'abc' WHERE id = '{ids[0]}'")
    code, out = run(store.root, "list")
    assert code == 0 and "Traceback" not in out
    rows = {row.id: row for row in SessionStore(store.root).list_sessions()}
    assert rows[ids[0]].n_checkpoints == 1
    code, out = run(store.root, "doctor", "--quick")
    assert code == 0
    assert {row.n_checkpoints for row in SessionStore(store.root).list_sessions()} == {1}


def test_doctor_repairs_rows_the_sweep_trusts(tmp_path: Path) -> None:
    store, ids = filled(tmp_path / "s", 4)
    tamper(store.root, f"UPDATE sessions SET n_checkpoints = 7, name = 'wrong' WHERE id = '{ids[1]}'")
    findings = check_store(SessionStore(store.root), deep=False)
    assert any(f.severity == "repaired" and ids[1] in f.problem for f in findings)
    assert {row.n_checkpoints for row in SessionStore(store.root).list_sessions()} == {1}
    assert not [f for f in check_store(SessionStore(store.root), deep=False) if ids[1] in f.problem]


def test_a_dropped_search_table_is_rebuilt_in_the_file(tmp_path: Path) -> None:
    store, ids = filled(tmp_path / "s", 6)
    tamper(store.root, "DROP TABLE session_text")
    fresh = SessionStore(store.root)
    assert len(fresh.search("lighthouse")) == 6
    assert not [p for p in fresh.problems if "memory" in str(p)]
    conn = sqlite3.connect(store.root / "index.sqlite")
    assert conn.execute("SELECT count(*) FROM session_text").fetchone()[0] == 6  # in the file, for every run
    conn.close()


def test_a_search_table_dropped_while_in_use_is_rebuilt(tmp_path: Path) -> None:
    store, ids = filled(tmp_path / "s", 3)
    running = SessionStore(store.root)
    assert len(running.search("keeper")) == 3
    tamper(store.root, "DROP TABLE session_text")
    assert len(running.search("keeper")) == 3
    assert len(SessionStore(store.root).search("keeper")) == 3


def test_rows_deleted_from_the_search_table_are_found_again_by_doctor(tmp_path: Path) -> None:
    store, ids = filled(tmp_path / "s", 24)
    tamper(store.root, "DELETE FROM session_text WHERE rowid IN (SELECT rowid FROM session_text LIMIT 11)")
    assert len(SessionStore(store.root).search("lighthouse")) == 13  # the damage is real
    code, out = run(store.root, "doctor", "--quick")
    assert code == 0 and "missing from the search table" in out
    assert len(SessionStore(store.root).search("lighthouse", limit=None)) == 24


def test_doctor_notices_a_checkpoint_rewritten_in_place(tmp_path: Path) -> None:
    store, ids = filled(tmp_path / "s", 3)
    live = SessionStore(store.root)
    assert live.checkpoint_summaries(ids[1])  # the pickers' rows are in the index
    path = next(live.layout.checkpoints(ids[1]).glob("*.json"))
    folder_time = path.parent.stat().st_mtime_ns
    text = path.read_text().replace("the lighthouse keeper number 1", "a zeppelin over the harbour")
    with open(path, "r+", encoding="utf-8") as handle:  # rsync --inplace: the folder's time stays
        handle.write(text)
        handle.truncate()
    assert path.parent.stat().st_mtime_ns == folder_time
    assert live.search("zeppelin") == []  # the times cannot show it
    findings = check_store(live, deep=False)
    assert any(ids[1] in f.problem for f in findings)
    assert [hit.id for hit in live.search("zeppelin")] == [ids[1]]
    assert live.checkpoint_summaries(ids[1])[0].chars == len("a zeppelin over the harbour")


HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
conn.execute("UPDATE info SET value = value WHERE key = 'schema'")
print("held", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


def test_readers_do_not_wait_on_an_index_held_by_another_process(tmp_path: Path) -> None:
    store, ids = filled(tmp_path / "s", 5)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(store.root / "index.sqlite")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        code, out = run(store.root, "list")
        assert code == 0 and all(i in out for i in ids)
        writer = SessionStore(store.root)
        writer.add_checkpoint(ids[0], Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text="more"))
        assert time.monotonic() - started < 10  # was 30-41 s; each wait is at most one second
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=30)
    # The write the index could not take is applied at the next read.
    assert writer.find_session(ids[0]).n_checkpoints == 2
    assert SessionStore(store.root).find_session(ids[0]).n_checkpoints == 2


@pytest.mark.parametrize("query", ["exact", "prefix", "name", "any case"])
def test_show_finds_one_session_from_the_index(tmp_path: Path, query: str) -> None:
    store, ids = filled(tmp_path / "s", 5)
    typed = {"exact": ids[3], "prefix": ids[3][:-2], "name": "session 3 rope", "any case": "SESSION 3 ROPE"}[query]
    if query == "prefix" and sum(i.startswith(typed) for i in ids) > 1:
        pytest.skip("ids made in one second share more than this prefix")
    code, out = run(store.root, "show", typed)
    assert code == 0 and ids[3] in out and "session 3 rope" in out


def test_a_dropped_table_of_names_is_rebuilt_in_the_file(tmp_path: Path) -> None:
    store, ids = filled(tmp_path / "s", 6)
    tamper(store.root, "DROP TABLE session_names")
    fresh = SessionStore(store.root)
    assert len(fresh.search("lighthouse")) == 6
    conn = sqlite3.connect(store.root / "index.sqlite")
    assert conn.execute("SELECT count(*) FROM session_names").fetchone()[0] == 6
    conn.close()


def test_rows_deleted_from_the_table_of_names_are_found_again_by_doctor(tmp_path: Path) -> None:
    store, ids = filled(tmp_path / "s", 8)
    tamper(store.root, "DELETE FROM session_names WHERE rowid IN (SELECT rowid FROM session_names LIMIT 3)")
    code, out = run(store.root, "doctor", "--quick")
    assert code == 0 and "missing from the table of names" in out
    conn = sqlite3.connect(store.root / "index.sqlite")
    assert conn.execute("SELECT count(*) FROM session_names").fetchone()[0] == 8
    conn.close()


@pytest.mark.parametrize("merge_after", [5, 100])
def test_a_rebuilt_index_leaves_its_search_tables_in_one_piece(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               merge_after: int) -> None:
    """Every search looks into every piece of the search tables: after reading many sessions again, they
    are merged into one (a rare word at 100,000 sessions: 1 ms in 666 pieces, 0.01 ms in one)."""
    store, ids = filled(tmp_path / "s", 8)
    (store.root / "index.sqlite").unlink()
    monkeypatch.setattr(indexing, "BATCH", 1)  # one piece per session read
    monkeypatch.setattr(indexing, "OPTIMIZE_AFTER", merge_after)
    assert len(SessionStore(store.root).search("lighthouse")) == 8
    conn = sqlite3.connect(store.root / "index.sqlite")
    pieces = [conn.execute(f"SELECT count(DISTINCT segid) FROM {table}_idx").fetchone()[0]
              for table in ("session_text", "session_names")]
    conn.close()
    assert (pieces == [1, 1]) == (merge_after <= 8), pieces
