"""A store with more folders than the system lets one user watch (100,000 sessions on a machine whose limit
is 192,540): a long-running host watches every session folder one by one, the inner folders of the newest
sessions as far as the limit allows, and compares the rest by their times in the watch's own thread, so the
panel's poll stays as cheap as in a small store."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from session_manager.store import SessionStore, catalog, folder_watches, watching
from session_manager.store.folder_watches import SessionWatches, flags

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="watches of single folders: Linux")

from test_bounded_paths import EDITOR, REWRITER, fill, until  # noqa: E402  (after the platform check)

SESSIONS = 6


def watches_held(watch: SessionWatches) -> int:
    """The watches the system holds for this watch (its inotify file descriptor's entries)."""
    fdinfo = Path(f"/proc/self/fdinfo/{watch._inotify.fileno()}").read_text()
    return sum(line.startswith("inotify wd:") for line in fdinfo.splitlines())


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SessionStore, list[str]]]:
    """A host whose system allows 11 watches: 10 for this process (a tenth left to other programs), so the
    sessions folder, the six session folders and the checkpoints folders of the three newest sessions."""
    store = SessionStore(tmp_path / "store")
    ids = sorted(fill(store, SESSIONS))  # oldest first
    store.close()
    limit = tmp_path / "max_user_watches"
    limit.write_text("11\n")
    monkeypatch.setattr(watching, "INOTIFY_LIMIT", limit)
    monkeypatch.setattr(catalog, "SWEEP_SLICE", 1)  # a poll alone would take many calls to reach a folder
    monkeypatch.setattr(folder_watches, "COMPARE_EVERY", 3600.0)  # no comparison of folder times unless asked
    host = SessionStore(store.root)
    assert host.upkeep.watch() == ""
    try:
        assert host.upkeep.watching(timeout=30)
        host.list_sessions()
        yield host, ids
    finally:
        host.close()


def the_watch(host: SessionStore) -> SessionWatches:
    watch = host._core.catalog.watch._observer
    assert isinstance(watch, SessionWatches), "the store should be watched folder by folder"
    return watch


def test_the_session_folders_are_watched_and_the_newest_inner_folders_within_the_limit(
        host: tuple[SessionStore, list[str]], caplog: pytest.LogCaptureFixture) -> None:
    store, ids = host
    watch = the_watch(store)
    assert watches_held(watch) == watch.watched == 10
    assert watch.unwatched_up_to == ids[2]  # the three oldest sessions' checkpoints are compared by time
    assert store._core.catalog.watch.unwatched_up_to == ids[2]  # what the host's answers check by time
    said = "\n".join(record.getMessage() for record in caplog.get_records("setup"))  # the host's start
    assert f"watches {store.layout.sessions} folder by folder (10 watches, within the system's limit of 11" in said
    assert f"the sessions up to {ids[2]} are compared by their times" in said

    # session.json of the oldest session edited in place by another program: its session folder is watched,
    # so the poll alone (which compares no folder here) sees it.
    before = store.revision()
    subprocess.run([sys.executable, "-c", EDITOR, str(store.layout.session_file(ids[0])), "edited elsewhere"],
                   check=True)
    assert until(lambda: store.revision() != before, 5.0)
    assert store.find_session(ids[0]).name == "edited elsewhere"

    # A checkpoint of the newest session rewritten in place: its checkpoints folder is watched too.
    checkpoint = next(store.layout.checkpoints(ids[-1]).glob("*.json"))
    subprocess.run([sys.executable, "-c", REWRITER, str(checkpoint), "the lighthouse keeper", "a zeppelin arrives"],
                   check=True)
    assert until(lambda: store.revision() >= 0 and [h.id for h in store.search("zeppelin")] == [ids[-1]], 5.0)


def test_the_inner_folders_not_watched_are_compared_beside_the_poll(
        host: tuple[SessionStore, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint file removed by hand from the oldest session (whose checkpoints folder is not watched) is
    found by the watch's own comparison of folder times: the poll (``revision``) changes without comparing."""
    store, ids = host
    watch = the_watch(store)
    calls: list[str] = []
    compare = watch.compare
    watch.compare = lambda up_to: (calls.append(up_to), compare(up_to))[1]  # type: ignore[method-assign]
    monkeypatch.setattr(folder_watches, "COMPARE_EVERY", 0.2)
    oldest = store.find_session(ids[0])
    before = store.revision()
    next(store.layout.checkpoints(ids[0]).glob("*.json")).unlink()
    assert until(lambda: store.revision() != before, 5.0)
    assert store.find_session(ids[0]).n_checkpoints == oldest.n_checkpoints - 1
    assert calls and set(calls) == {ids[2]}  # only the sessions whose inner folders are not watched


def test_a_session_folder_copied_in_is_watched_when_there_is_room(
        host: tuple[SessionStore, list[str]], tmp_path: Path) -> None:
    store, ids = host
    watch = the_watch(store)
    store.delete_session(ids[1])  # its folder's watch is freed
    assert until(lambda: watch.watched == 9, 5.0)
    elsewhere = SessionStore(tmp_path / "elsewhere")
    new_id = fill(elsewhere, 1)[0]
    elsewhere.close()
    # How a sync tool or a file manager puts a folder in place: it appears whole, under its name.
    os.rename(elsewhere.session_dir(new_id), store.layout.sessions / new_id)
    assert until(lambda: store.revision() >= 0 and store.find_session(new_id) is not None, 5.0)
    assert watch.watched == 10  # its session folder took the watch freed; no room for its checkpoints
    assert new_id <= watch.unwatched_up_to  # so they are compared by time, with the older sessions'
    assert watches_held(watch) == 10


def test_events_the_system_dropped_make_the_host_compare_every_folder(host: tuple[SessionStore, list[str]]) -> None:
    """The system's event queue overflowed: the host compares every folder beside its answers, so an edit
    among the lost events (here: one whose folder's watch was taken away) is still seen."""
    store, ids = host
    watch = the_watch(store)
    folder_watch = next(wd for wd, session_id in watch._session_of.items()
                        if session_id == ids[-1] and wd not in watch._inner_of)
    watch._inotify.rm_watch(folder_watch)
    assert until(lambda: watch.watched == 9, 5.0)
    subprocess.run([sys.executable, "-c", EDITOR, str(store.layout.session_file(ids[-1])), "edited in a burst"],
                   check=True)
    assert not until(lambda: store.find_session(ids[-1]).name == "edited in a burst", 1.0)  # nothing told it
    watch._event(-1, flags.Q_OVERFLOW, "")  # what the system reports then
    assert until(lambda: store.find_session(ids[-1]).name == "edited in a burst", 5.0)


def test_sessions_with_more_folders_than_two_are_counted_against_the_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Six sessions with KV folders need 19 watches to be watched whole, though two a session would fit in
    15: the host counts the folders when the store is that close to the limit, and watches folder by folder
    (the checkpoint and KV folders of the newest sessions first)."""
    store = SessionStore(tmp_path / "store")
    ids = sorted(fill(store, SESSIONS))
    store.close()
    for session_id in ids:
        (store.session_dir(session_id) / "kv").mkdir()
    limit = tmp_path / "max_user_watches"
    limit.write_text("15\n")  # 14 for this process: the sessions folder, six session folders and 7 inner
    monkeypatch.setattr(watching, "INOTIFY_LIMIT", limit)
    host = SessionStore(store.root)
    assert host.upkeep.watch() == ""
    try:
        assert host.upkeep.watching(timeout=30)
        watch = the_watch(host)
        assert watches_held(watch) == watch.watched == 14
        assert watch.unwatched_up_to == ids[2]  # the fourth newest has its checkpoints watched, not its KV
    finally:
        host.close()
