from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from index_chaos import index_mode  # noqa: F401 - every test with and without the index

from session_manager.choices import FORMATS
from session_manager.errors import ImportFailed
from session_manager.formats.session_archive import export_session, import_file
from session_manager.kvstate.blob import write_blob
from session_manager.models import Checkpoint, KVRef, ModelFingerprint, new_checkpoint_id, utcnow
from session_manager.store import SessionStore


def write_real_blob(path: Path, state: bytes = b"\x01" * 100) -> None:
    fingerprint = ModelFingerprint(file_name="m.gguf", file_size=10, sample_hash="ab", n_ctx=512)
    write_blob(path, backend="llama-cpp-python", fingerprint=fingerprint, token_ids=[1, 2, 3, 4, 5], state=state)


def filled(store: SessionStore) -> str:
    meta = store.create_session("Lighthouse / story")
    store.update_session(meta.id, tags=["fiction"], notes="draft two")
    for i in range(3):
        cp = Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text="The keeper",
                        output_text=f"The keeper walked {i} miles", params={"seed": i}, label=f"v{i}")
        if i == 2:
            blob = store.kv_path(meta.id, cp.id)
            blob.parent.mkdir(parents=True, exist_ok=True)
            write_real_blob(blob)
            cp = cp.model_copy(update={"kv": KVRef(file=blob.name, bytes=blob.stat().st_size, n_tokens=5,
                                                   fingerprint="f", backend="llama-cpp-python")})
        store.add_checkpoint(meta.id, cp)
    return meta.id


@pytest.mark.parametrize("fmt", ["zip", "json"])
def test_export_then_import_gives_an_equal_new_session(store: SessionStore, tmp_path: Path, fmt: str) -> None:
    source = filled(store)
    path = export_session(store, source, tmp_path, fmt)
    imported = import_file(store, path)
    assert imported.id != source and imported.name == "Lighthouse / story"
    assert "imported" in imported.tags and "fiction" in imported.tags
    before = [c.model_dump(exclude={"kv"}) for c in store.list_checkpoints(source)]
    after = [c.model_dump(exclude={"kv"}) for c in store.list_checkpoints(imported.id)]
    assert after == before
    kv_after = [c.kv is not None for c in store.list_checkpoints(imported.id)]
    assert kv_after == ([True, False, False] if fmt == "zip" else [False, False, False])
    if fmt == "zip":
        assert store.kv_bytes(imported.id) == store.kv_bytes(source) > 0


def test_markdown_and_jsonl_exports(store: SessionStore, tmp_path: Path) -> None:
    source = filled(store)
    md = export_session(store, source, tmp_path, "markdown").read_text()
    assert md.startswith("# Lighthouse / story") and "The keeper walked 2 miles" in md and "v1" in md
    lines = export_session(store, source, tmp_path, "jsonl").read_text().splitlines()
    assert [json.loads(line)["completion"] for line in lines] == [f" walked {i} miles" for i in range(3)]
    assert set(FORMATS) == {"zip", "json", "markdown", "jsonl"}


def test_a_zip_with_a_path_escape_is_refused_and_nothing_is_written(store: SessionStore, tmp_path: Path) -> None:
    source = filled(store)
    good = export_session(store, source, tmp_path, "zip")
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(evil, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
        dst.writestr("../../outside.txt", "gotcha")
    count = len(store.list_sessions())
    with pytest.raises(ImportFailed, match="unexpected file"):
        import_file(store, evil)
    assert len(store.list_sessions()) == count
    assert not (tmp_path.parent / "outside.txt").exists()


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 broken", b"{\"session\": 1}"])
def test_broken_files_give_a_clear_message(store: SessionStore, tmp_path: Path, content: bytes) -> None:
    for suffix in (".zip", ".json"):
        path = tmp_path / f"bad{suffix}"
        path.write_bytes(content)
        with pytest.raises(ImportFailed):
            import_file(store, path)
    assert store.list_sessions() == []


def test_a_truncated_zip_imports_nothing(store: SessionStore, tmp_path: Path) -> None:
    source = filled(store)
    good = export_session(store, source, tmp_path, "zip")
    cut = tmp_path / "cut.zip"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ImportFailed):
        import_file(store, cut)
    assert len(store.list_sessions()) == 1
