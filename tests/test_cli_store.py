"""`session-manager list`'s search and filters, and `doctor --quick`, against real stores."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result
from hostile import write_real_blob

from session_manager import cli
from session_manager.models import Checkpoint, KVRef, ModelInfo, new_checkpoint_id, utcnow
from session_manager.store import SessionStore


def run(root: Path, *args: str) -> Result:
    return CliRunner().invoke(cli.cli, ["--data-dir", str(root), *args])


def story(store: SessionStore, name: str, text: str, **fields: object) -> str:
    meta = store.create_session(name)
    store.add_checkpoint(meta.id, Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text=text, **fields))
    return meta.id


def test_list_search_ranks_and_shows_where_it_matched(store: SessionStore) -> None:
    in_text = story(store, "Harbour", "the lighthouse keeper slept")
    in_name = story(store, "Lighthouse diary", "nothing")
    rows = json.loads(run(store.root, "list", "--json", "--search", "lighthouse").stdout)
    assert [r["id"] for r in rows] == [in_name, in_text]
    assert "«lighthouse»" in rows[1]["snippet"].casefold() and rows[1]["checkpoints"] == 1
    table = run(store.root, "list", "--search", "keeper").stdout.splitlines()
    assert in_text in table[1] and "«keeper»" in table[2]


def test_list_filters(store: SessionStore) -> None:
    gemma = story(store, "one", "text", model=ModelInfo(name="gemma-3.gguf"))
    store.update_session(gemma, tags=["work"])
    story(store, "two", "text", model=ModelInfo(name="llama.gguf"))
    assert [r["id"] for r in json.loads(run(store.root, "list", "--json", "--tag", "work").stdout)] == [gemma]
    assert [r["id"] for r in json.loads(run(store.root, "list", "--json", "--model", "GEMMA").stdout)] == [gemma]
    assert json.loads(run(store.root, "list", "--json", "--until", "2000-01-01").stdout) == []
    assert len(json.loads(run(store.root, "list", "--json", "--since", "2000-01-01").stdout)) == 2
    result = run(store.root, "list", "--tag", "nope", "--mode", "chat")
    assert result.exit_code == 0 and "No session matches tag 'nope', mode 'chat'" in result.stdout


def test_list_json_of_many_sessions_is_the_store_list(store: SessionStore) -> None:
    for i in range(300):
        store.create_session(f"session {i} \"quoted\" ünïcode")
    rows = json.loads(run(store.root, "list", "--json", "--all").stdout)
    assert [r["id"] for r in rows] == [r.id for r in store.list_sessions()]
    page = json.loads(run(store.root, "list", "--json").stdout)
    assert [r["id"] for r in page] == [r.id for r in store.list_sessions(limit=100)]
    assert rows[0]["name"].endswith("\"quoted\" ünïcode") and rows[0]["checkpoints"] == 0
    assert {tuple(sorted(r)) for r in rows} == {tuple(sorted(store.list_sessions()[0].to_dict()))}


def test_show_includes_marks(store: SessionStore) -> None:
    meta = store.create_session("marked")
    cp = store.add_checkpoint(meta.id, Checkpoint(id=new_checkpoint_id(), created=utcnow(), label="own"))
    store.set_mark(meta.id, cp.id, pinned=True, note="why", label="renamed")
    doc = json.loads(run(store.root, "show", meta.id, "--json").stdout)
    assert doc["checkpoints"][0] | {"label": "renamed", "pinned": True, "note": "why"} == doc["checkpoints"][0]
    assert "renamed" in run(store.root, "show", meta.id).stdout


def test_doctor_quick_checks_headers_and_the_default_every_byte(store: SessionStore) -> None:
    meta = store.create_session("kv")
    cp_id = new_checkpoint_id()
    blob = write_real_blob(store.kv_path(meta.id, cp_id), state=b"\x05" * 5000)
    store.add_checkpoint(meta.id, Checkpoint(id=cp_id, created=utcnow(), kv=KVRef(
        file=blob.name, bytes=blob.stat().st_size, n_tokens=3, fingerprint="f", backend="llama-cpp-python")))
    data = bytearray(blob.read_bytes())
    data[-10] ^= 0xFF  # a state byte: only a full read notices
    blob.write_bytes(bytes(data))
    assert run(store.root, "doctor", "--quick").exit_code == 0 and blob.exists()
    result = run(store.root, "doctor", "--json")
    assert result.exit_code == 1 and not blob.exists()
    assert any("checksum" in f["problem"] for f in json.loads(result.stdout)["findings"])
