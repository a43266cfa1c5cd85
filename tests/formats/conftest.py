"""Fixtures for the format tests.

``SessionStore.add_bundle``, ``find_by_origin`` and ``marks`` come with the store's own work. Until
the store in this tree has them, ``store_api`` gives it a plain stand-in built on the store's public
methods, so the readers can be tested end to end; with the real methods present it does nothing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from session_manager.models import SessionMarks, SessionMeta
from session_manager.store import SessionStore
from session_manager.store.bundle import SessionBundle

STAND_IN = not hasattr(SessionStore, "add_bundle")


def _add_bundle(self: SessionStore, bundle: SessionBundle) -> SessionMeta:
    meta = self.create_session(bundle.meta.name, mode=bundle.meta.mode)
    for checkpoint in bundle.checkpoints:
        blob = bundle.blobs.get(checkpoint.id)
        if checkpoint.kv is not None and blob is not None:
            target = self.kv_path(meta.id, checkpoint.id)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(blob, target)
        elif checkpoint.kv is not None:
            checkpoint = checkpoint.model_copy(update={"kv": None})
        self.add_checkpoint(meta.id, checkpoint)
    if bundle.autosave is not None:
        self.write_autosave(meta.id, bundle.autosave)
    folder = self.session_dir(meta.id)
    if bundle.marks is not None:
        (folder / "marks.json").write_text(bundle.marks.model_dump_json())
    final = bundle.meta.model_copy(update={"id": meta.id})
    (folder / "session.json").write_text(final.model_dump_json(indent=2))
    return final


def _find_by_origin(self: SessionStore, origin: str) -> SessionMeta | None:
    return next((row.meta for row in self.list_sessions() if row.meta.origin == origin), None)


def _marks(self: SessionStore, session_id: str) -> SessionMarks:
    path = self.session_dir(session_id) / "marks.json"
    return SessionMarks.model_validate(json.loads(path.read_text())) if path.exists() else SessionMarks()


@pytest.fixture(autouse=True)
def store_api(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, stand_in in (("add_bundle", _add_bundle), ("find_by_origin", _find_by_origin), ("marks", _marks)):
        if not hasattr(SessionStore, name):
            monkeypatch.setattr(SessionStore, name, stand_in, raising=False)


@pytest.fixture
def user_data(tmp_path: Path) -> Path:
    folder = tmp_path / "text-generation-webui" / "user_data"
    folder.mkdir(parents=True)
    return folder
