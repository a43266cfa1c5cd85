"""Every path a user waits for is bounded by the page it shows (issue 24, item 1), and a large store
is kept true without comparing every folder before each answer (items 3 and 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from session_manager import cli
from session_manager.app.panel_state import SESSION_LIMIT, panel_state, session_choices
from session_manager.models import Checkpoint, new_checkpoint_id, utcnow
from session_manager.recording.page_mirror import Page
from session_manager.store import SessionStore, catalog, indexing, queries, watching


def fill(store: SessionStore, count: int, text: str = "the lighthouse keeper") -> list[str]:
    ids = []
    for i in range(count):
        meta = store.create_session(f"session {i:03d}")
        store.add_checkpoint(meta.id, Checkpoint(id=new_checkpoint_id(), created=utcnow(),
                                                 input_text=f"{text} {i}"))
        ids.append(meta.id)
    return ids


def run(root: Path, *args: str) -> tuple[str, str]:
    result = CliRunner().invoke(cli.cli, ["--data-dir", str(root), *args])
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


def until(check: Callable[[], bool], seconds: float) -> bool:
    """Ask again until ``check`` holds or ``seconds`` have passed (the goal under test)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def many(tmp_path: Path) -> tuple[SessionStore, list[str]]:
    store = SessionStore(tmp_path / "store")
    return store, fill(store, SESSION_LIMIT + 20)


def test_list_prints_a_page_and_says_how_to_see_more(many: tuple[SessionStore, list[str]]) -> None:
    store, ids = many
    out, err = run(store.root, "list")
    assert sum(i in out for i in ids) == cli.LIST_PAGE
    assert ids[-1] in out and ids[0] not in out  # the most recent
    assert f"of {len(ids)} sessions" in err and "--all" in err
    out, _ = run(store.root, "list", "--limit", "5")
    assert sum(i in out for i in ids) == 5
    out, err = run(store.root, "list", "--all")
    assert all(i in out for i in ids) and not err
    rows = json.loads(run(store.root, "list", "--all", "--json")[0])
    assert [row["id"] for row in rows] == ids[::-1]
    assert len(json.loads(run(store.root, "list", "--json")[0])) == cli.LIST_PAGE


def test_the_panel_asks_for_one_page_and_keeps_the_current_session(many: tuple[SessionStore, list[str]]) -> None:
    store, ids = many
    choices = session_choices(store, ids[0])
    assert len(choices) == SESSION_LIMIT + 1 and choices[0][1] == ids[0]  # the oldest, shown as the current one
    page = Page("tab", session_id=ids[0])
    assert len(panel_state(store, page, "keeper").sessions) == SESSION_LIMIT + 1


def test_search_pages_have_snippets_and_more_comes_on_demand(many: tuple[SessionStore, list[str]]) -> None:
    store, ids = many
    first = store.search("lighthouse", limit=50)
    more = store.search("lighthouse", limit=50, offset=50)
    rest = store.search("lighthouse", limit=50, offset=100)
    found = [hit.id for hit in first + more + rest]
    assert sorted(found) == sorted(ids) and len(set(found)) == len(ids)
    assert all("«lighthouse»" in hit.marked() for hit in first + more + rest)
    assert store.search("lighthouse", limit=1)[0].rank <= first[-1].rank


def test_a_large_store_checks_the_rows_it_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SessionStore(tmp_path / "store")
    ids = fill(store, 6)
    monkeypatch.setattr(catalog, "SYNC_SWEEP_MAX", 3)  # "large": no folder-by-folder look before answering
    path = store.layout.session_file(ids[-1])
    doc = json.loads(path.read_text())
    doc["name"] = "renamed in an editor"
    path.write_text(json.dumps(doc))  # in place: only the file's own time changes
    reader = SessionStore(store.root)
    assert reader.list_sessions(limit=1)[0].name == "renamed in an editor"
    assert reader.find_session(ids[-1]).name == "renamed in an editor"


def test_a_long_running_host_indexes_a_large_store_beside_its_answers(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    store = SessionStore(tmp_path / "store")
    ids = fill(store, 8)
    store.close()
    os.unlink(store.layout.index)
    monkeypatch.setattr(catalog, "SYNC_SWEEP_MAX", 3)
    host = SessionStore(store.root)
    steps: list[tuple[int, int]] = []
    host.upkeep.indexing.listeners.append(lambda done, total, what: steps.append((done, total)))
    host.upkeep.watch()
    try:
        host.list_sessions()  # answers at once from what the index has
        assert host.upkeep.indexing.wait(30)
        assert [row.id for row in host.list_sessions()] == ids[::-1]
        assert steps and steps[-1][0] == steps[-1][1] == len(ids)
        assert host.upkeep.indexing.line() == ""
    finally:
        host.close()


def test_a_command_rebuilding_the_index_reports_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SessionStore(tmp_path / "store")
    ids = fill(store, 5)
    store.close()
    os.unlink(store.layout.index)
    monkeypatch.setattr(indexing, "BATCH", 2)
    fresh = SessionStore(store.root)
    steps: list[tuple[int, int]] = []
    fresh.upkeep.indexing.listeners.append(lambda done, total, what: steps.append((done, total)))
    assert len(fresh.list_sessions()) == len(ids)
    assert steps == [(2, 5), (4, 5), (5, 5)]


EDITOR = """
import json, sys, pathlib
path = pathlib.Path(sys.argv[1])
doc = json.loads(path.read_text())
doc["name"] = sys.argv[2]
with open(path, "r+") as handle:
    handle.write(json.dumps(doc))
    handle.truncate()
"""

REWRITER = """
import sys, pathlib
path = pathlib.Path(sys.argv[1])
text = path.read_text().replace(sys.argv[2], sys.argv[3])
with open(path, "r+") as handle:
    handle.write(text)
    handle.truncate()
"""


def test_an_outside_edit_is_seen_within_seconds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SessionStore(tmp_path / "store")
    ids = fill(store, 4)
    monkeypatch.setattr(catalog, "SWEEP_SLICE", 1)  # the folder walk alone would take many calls
    host = SessionStore(store.root)
    assert host.upkeep.watch() == ""
    try:
        assert host.upkeep.watching(timeout=30)
        host.list_sessions()
        for _ in range(3):
            host.revision()  # the walk moves on from the first folders
        subprocess.run([sys.executable, "-c", EDITOR, str(host.layout.session_file(ids[1])), "edited elsewhere"],
                       check=True)
        assert until(lambda: host.revision() and host.find_session(ids[1]).name == "edited elsewhere", 5.0)
        checkpoint = next(host.layout.checkpoints(ids[2]).glob("*.json"))
        subprocess.run([sys.executable, "-c", REWRITER, str(checkpoint), "the lighthouse keeper 2",
                        "a zeppelin arrives 2"], check=True)
        assert until(lambda: host.revision() and [h.id for h in host.search("zeppelin")] == [ids[2]], 5.0)
    finally:
        host.close()


def test_a_store_beyond_the_systems_watch_limit_compares_folder_times_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A system whose limit on watched folders cannot hold even the session folders one by one: the host says
    so at once, instead of adding folders until the limit says no, and an outside edit is still seen through
    the folder times."""
    store = SessionStore(tmp_path / "store")
    ids = fill(store, 6)
    limit = tmp_path / "max_user_watches"
    limit.write_text("5\n")  # the sessions folder and six session folders need seven
    monkeypatch.setattr(watching, "INOTIFY_LIMIT", limit)
    host = SessionStore(store.root)
    assert host.upkeep.watch() == ""  # watching starts in its own thread, which finds out
    try:
        assert not host.upkeep.watching(timeout=30)
        assert "the system allows 5 watched folders" in caplog.text
        assert "6 session folders need more than the 5 watches" in caplog.text
        host.list_sessions()
        subprocess.run([sys.executable, "-c", EDITOR, str(host.layout.session_file(ids[1])), "edited elsewhere"],
                       check=True)
        assert until(lambda: host.revision() >= 0 and host.find_session(ids[1]).name == "edited elsewhere", 5.0)
    finally:
        host.close()


def test_events_the_system_dropped_make_the_host_compare_every_folder(tmp_path: Path) -> None:
    """The system's event queue overflowed (a burst of changes): the watch says events were lost, and the
    host compares every folder beside its answers, so an edit among the lost events is still seen."""
    from watchdog.events import EventsLostEvent

    store = SessionStore(tmp_path / "store")
    ids = fill(store, 4)
    host = SessionStore(store.root)
    assert host.upkeep.watch() == ""
    try:
        assert host.upkeep.watching(timeout=30)
        host.list_sessions()
        watch = host._core.catalog.watch
        watch._observer.unschedule_all()  # the watch runs on, but the edit below reaches it as no event
        subprocess.run([sys.executable, "-c", EDITOR, str(host.layout.session_file(ids[2])), "edited in a burst"],
                       check=True)
        assert host.find_session(ids[2]).name != "edited in a burst"  # nothing told the host yet
        watch._event(EventsLostEvent(watch.sessions, is_directory=True))  # what the observer delivers then
        assert until(lambda: host.find_session(ids[2]).name == "edited in a burst", 5.0)
    finally:
        host.close()


def test_a_word_too_common_to_rank_pages_through_every_hit(many: tuple[SessionStore, list[str]],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    store, ids = many
    store.rename_session(ids[3], "lighthouse log")
    store.update_session(ids[7], notes="the lighthouse again")
    monkeypatch.setattr(queries, "RANK_ALL", 10)  # "common": more hits than are ranked
    pages = [store.search("lighthouse", limit=25, offset=start) for start in range(0, len(ids) + 25, 25)]
    found = [hit.id for page in pages for hit in page]
    assert sorted(found) == sorted(ids) and len(found) == len(ids)
    assert found[:2] == [ids[3], ids[7]]  # the name counts most, then the notes
    assert found[2:] == [i for i in ids[::-1] if i not in (ids[3], ids[7])]  # then the newest first
    assert all("«lighthouse»" in hit.marked() for page in pages for hit in page)
    assert [hit.id for hit in store.search("lighthouse", limit=3, offset=1)] == found[1:4]


def test_closing_a_host_while_it_indexes_leaves_the_index_alone(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    store = SessionStore(tmp_path / "store")
    ids = fill(store, 8)
    store.close()
    monkeypatch.setattr(catalog, "SYNC_SWEEP_MAX", 3)
    monkeypatch.setattr(indexing, "BATCH", 1)
    host = SessionStore(store.root)
    host.upkeep.watch()
    host.list_sessions()  # the sweep starts beside this answer
    host.close()
    host.upkeep.indexing.wait(30)
    assert not [p for p in host.problems if "rebuilt" in str(p) or "memory" in str(p)]
    assert {row.id for row in SessionStore(store.root).list_sessions()} == set(ids)


def test_more_hits_than_counts_a_words_prefix_hits_too(tmp_path: Path) -> None:
    """A word counted as a whole word first (a prefix search reads all its hits): when that count is too
    small, the words it begins still count."""
    store = SessionStore(tmp_path / "store")
    fill(store, 1, "the lighthouse")
    fill(store, 3, "the lighthouses")

    def more_than(words: str, count: int, table: str = "session_text") -> bool:
        match = queries.fts_query(words)
        assert match is not None
        return store._core.catalog.query(lambda db: queries.matches_more_than(db, match, count, table))

    assert more_than("lighthouse", 3) and not more_than("lighthouse", 4)  # 1 whole word, 3 it begins
    assert more_than("the", 3) and not more_than("the", 4)  # 4 as whole words
    assert more_than("session", 3, "session_names") and not more_than("lighthouse", 0, "session_names")


def test_a_word_in_many_names_pages_through_those_first_then_every_other_hit(
        many: tuple[SessionStore, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    store, ids = many
    named = [ids[3], ids[7], ids[12]]
    for session_id in named:
        store.rename_session(session_id, f"lighthouse log {session_id[-4:]}")
    monkeypatch.setattr(queries, "RANK_ALL", 2)  # more names hold it than are ranked: newest first
    pages = [store.search("lighthouse", limit=25, offset=start) for start in range(0, len(ids) + 25, 25)]
    found = [hit.id for page in pages for hit in page]
    assert sorted(found) == sorted(ids) and len(found) == len(ids)
    assert found[:3] == named[::-1]
    assert found[3:] == [i for i in ids[::-1] if i not in named]
    for offset, limit in ((1, 3), (2, 3), (3, 2), (0, 1)):
        assert [hit.id for hit in store.search("lighthouse", limit=limit, offset=offset)] == \
            found[offset:offset + limit]
    assert [hit.id for hit in store.search("lighthouse", limit=None)] == found
