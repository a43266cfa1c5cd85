"""No file content, special file or link stops a reader, doctor or the CLI (issue 9: 1, 2, 7, 8).

Generated, not hand-picked: every reader's file is given random JSON, retyped fields (times
without a zone, numbers past every limit, nesting past every recursion limit, text that is not
Unicode), truncations and plain bytes; every place of the store is replaced by a FIFO, a link
out of the store, a folder for a file or a file for a folder. Each case must pass ``survives``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hostile import Scene, build_store, fresh_copy, hostile_documents, no_hang, run_cli, survives
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from session_manager.errors import NewerFormat, StorageError
from session_manager.models import Checkpoint, SessionMeta, new_checkpoint_id, new_session_id, utcnow
from session_manager.store import SessionStore
from session_manager.store.doctor import check_store

DOCUMENTS = ["session.json", "checkpoint", "autosave.json", "marks.json", "settings.json"]
FILES = DOCUMENTS + ["blob", "index.sqlite", "lock"]
FOLDERS = ["sessions", "session folder", "checkpoints", "kv", "broken"]
# About a minute for the whole suite; bench/store_survives.py runs many more.
FUZZ = settings(max_examples=int(os.environ.get("SM_FUZZ_EXAMPLES", "120")), deadline=None,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    return build_store(tmp_path_factory.mktemp("template"))


@FUZZ
@given(position=st.sampled_from(DOCUMENTS), data=st.data(), drop_index=st.booleans())
def test_no_file_content_stops_the_store(template: Scene, position: str, data: st.DataObject,
                                         drop_index: bool) -> None:
    with tempfile.TemporaryDirectory() as base:
        scene = fresh_copy(template, Path(base))
        path = scene.file(position)
        path.write_bytes(data.draw(hostile_documents(json.loads(path.read_text())), label="content"))
        if drop_index:
            scene.file("index.sqlite").unlink()
        with no_hang():
            survives(scene)


def _replace(scene: Scene, position: str, kind: str) -> None:
    path = scene.file(position)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "link to a file outside":
        path.symlink_to(scene.outside / "precious.txt")
    elif kind == "link to a folder outside":
        path.symlink_to(scene.outside, target_is_directory=True)
    elif kind == "dangling link":
        path.symlink_to(scene.outside / "nothing here")
    elif kind == "folder":
        (path / "inner").mkdir(parents=True)
    elif kind == "file":
        path.write_text("a file where a folder belongs")
    elif kind == "huge sparse file":
        with open(path, "wb") as handle:
            handle.truncate(20 << 30)


CASES = ([(p, k) for p in FILES for k in ("fifo", "link to a file outside", "link to a folder outside",
                                          "dangling link", "folder", "huge sparse file")]
         + [(p, k) for p in FOLDERS for k in ("fifo", "link to a file outside", "link to a folder outside",
                                              "dangling link", "file")])


@pytest.mark.parametrize("position,kind", CASES, ids=[f"{p}={k}" for p, k in CASES])
def test_no_special_file_or_link_stops_the_store_or_reaches_outside(template: Scene, tmp_path: Path,
                                                                      position: str, kind: str) -> None:
    scene = fresh_copy(template, tmp_path / "copy")
    _replace(scene, position, kind)
    with no_hang():
        survives(scene)
    # A link is set aside itself (or left): what it points to is never moved, read into an export, or deleted.
    assert (scene.outside / "precious.txt").read_text() == "the user's own file"


@pytest.mark.parametrize("position", DOCUMENTS)
def test_a_file_of_a_newer_version_is_left_where_it_is_with_a_message(template: Scene, tmp_path: Path,
                                                                       position: str) -> None:
    scene = fresh_copy(template, tmp_path / "copy")
    path = scene.file(position)
    doc = json.loads(path.read_text())
    doc["format_version"] = 99
    path.write_text(json.dumps(doc))
    content = path.read_bytes()

    store = SessionStore(scene.root)
    listed = {row.meta.id for row in store.list_sessions()}
    for call in (store.get_session, store.list_checkpoints, store.read_autosave, store.marks):
        try:
            call(scene.victim)
        except NewerFormat as exc:
            assert "newer Session Manager" in str(exc) and "format 99" in str(exc)
    findings = check_store(store)

    assert path.read_bytes() == content  # never set aside, never rewritten
    assert not any(f.path == path and f.severity == "error" for f in findings)
    assert any(f.path == path and "newer" in f.problem for f in findings) or position == "settings.json"
    assert set(scene.healthy) <= listed
    if position == "session.json":
        assert scene.victim not in listed
        assert any(scene.victim in sid and "newer" in why for sid, why in store.hidden_sessions())
        assert "newer Session Manager" in run_cli(scene.root, "list").stderr
    else:
        assert scene.victim in listed


def test_a_newer_marks_file_is_never_overwritten(template: Scene, tmp_path: Path) -> None:
    scene = fresh_copy(template, tmp_path / "copy")
    path = scene.file("marks.json")
    path.write_text(json.dumps({"format_version": 99, "marks": {}}))
    store = SessionStore(scene.root)
    with pytest.raises(NewerFormat):
        store.set_mark(scene.victim, scene.checkpoints[0], pinned=True)
    assert json.loads(path.read_text())["format_version"] == 99


TEXT_FIELDS = st.sampled_from(["label", "input_text", "output_text"])


@settings(max_examples=60, deadline=None)
@given(field=TEXT_FIELDS, before=st.text(max_size=20), after=st.text(max_size=20),
       surrogate=st.integers(0xD800, 0xDFFF))
def test_a_lone_surrogate_is_refused_with_a_clear_message(field: str, before: str, after: str,
                                                          surrogate: int) -> None:
    text = before + chr(surrogate) + after
    with pytest.raises(ValidationError, match="lone surrogate"):
        Checkpoint(id=new_checkpoint_id(), created=utcnow(), **{field: text})
    with pytest.raises(ValidationError, match="lone surrogate"):
        SessionMeta(id=new_session_id(), name=text, created=utcnow(), updated=utcnow())


def test_a_lone_surrogate_that_bypassed_validation_is_refused_at_the_write(store: SessionStore) -> None:
    meta = store.create_session("s")
    sneaky = Checkpoint(id=new_checkpoint_id(), created=utcnow()).model_copy(update={"label": "a\udcffb"})
    with pytest.raises(StorageError, match="not valid Unicode"):
        store.add_checkpoint(meta.id, sneaky)
    assert store.checkpoint_ids(meta.id) == []
    assert not list(store.session_dir(meta.id).rglob("*.tmp"))


@settings(max_examples=60, deadline=None)
@given(when=st.datetimes(timezones=st.none() | st.timezones()))
def test_only_times_that_can_be_compared_and_shown_are_accepted(when: object) -> None:
    try:
        meta = SessionMeta(id=new_session_id(), name="t", created=when, updated=utcnow())
    except ValidationError as exc:
        assert "timezone" in str(exc) or "outside" in str(exc)
        return
    assert meta.created.tzinfo is not None
    assert meta.created.astimezone().year >= 1969  # shown in any zone without overflow
    assert sorted([meta.created, utcnow()])[0] is not None  # comparable with the store's own times
