"""The `session-manager` command, run through click's CliRunner against real stores."""

from __future__ import annotations

import json
import os
import sys
import time
import types
from pathlib import Path
from typing import Any

import platformdirs
import pytest
from click.testing import CliRunner, Result

from session_manager import __version__, cli
from session_manager.models import Checkpoint, KVRef, ModelInfo, new_checkpoint_id, utcnow
from session_manager.store import SessionStore


def run(root: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli.cli, ["--data-dir", str(root), *args], input=input)


def add(store: SessionStore, session_id: str, text: str = "Once upon a time", **fields: Any) -> Checkpoint:
    cp = Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text=text, output_text=text + " there was",
                    **fields)
    return store.add_checkpoint(session_id, cp)


def assert_clean_error(result: Result, code: int = 1) -> None:
    """A named error: "Error: ..." on stderr, the exit status, and no traceback."""
    assert result.exit_code == code
    assert result.stderr.startswith("Error: ")
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


@pytest.fixture
def textgen(tmp_path: Path) -> Path:
    folder = tmp_path / "text-generation-webui"
    (folder / "modules").mkdir(parents=True)
    (folder / "server.py").write_text("")
    (folder / "modules" / "extensions.py").write_text("")
    return folder


@pytest.fixture
def extension(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "repo"
    (folder / ".venv" / "lib").mkdir(parents=True)
    (folder / "script.py").write_text("params = {}\n")
    (folder / "requirements.txt").write_text("pydantic\n")
    monkeypatch.setattr(cli, "extension_source", lambda: folder)
    return folder


# ----- list -------------------------------------------------------------------------------


def test_list_on_a_missing_store_says_where_and_creates_nothing(tmp_path: Path) -> None:
    root = tmp_path / "nowhere"
    result = run(root, "list")
    assert result.exit_code == 0
    assert "No sessions yet" in result.stdout and str(root) in result.stdout
    assert not root.exists()
    assert json.loads(run(root, "list", "--json").stdout) == []


def test_list_is_newest_first_with_counts_and_sizes(store: SessionStore) -> None:
    older = store.create_session("Older story")
    newer = store.create_session("Newer story")
    add(store, newer.id)
    add(store, older.id)  # touching the older one makes it the most recent change
    add(store, older.id)
    blob = store.kv_path(older.id, new_checkpoint_id())
    blob.parent.mkdir()
    with open(blob, "wb") as handle:
        handle.truncate(12_345_678)  # sparse: the size is what counts

    result = run(store.root, "list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "MODE", "CHECKPOINTS", "KV", "LAST", "CHANGE"]
    assert older.id in lines[1] and "12.3 MB" in lines[1] and " 2 " in lines[1]
    assert newer.id in lines[2] and lines[2].split()[-3] == "-"

    rows = json.loads(run(store.root, "list", "--json").stdout)
    assert [r["id"] for r in rows] == [older.id, newer.id]
    assert rows[0]["name"] == "Older story" and rows[0]["checkpoints"] == 2 and rows[0]["kv_bytes"] == 12_345_678
    assert rows[1]["checkpoints"] == 1 and rows[1]["kv_bytes"] == 0


def test_list_search_matches_every_word(store: SessionStore) -> None:
    dragon = store.create_session("Dragon tale")
    add(store, dragon.id, "The red dragon slept")
    store.create_session("Shopping list")

    rows = json.loads(run(store.root, "list", "--json", "--search", "RED dragon").stdout)
    assert [r["id"] for r in rows] == [dragon.id]
    result = run(store.root, "list", "--search", "unicorn")
    assert result.exit_code == 0 and "No session matches 'unicorn'" in result.stdout


def test_hostile_names_are_printed_escaped(store: SessionStore) -> None:
    meta = store.create_session("plain")
    path = store.session_dir(meta.id) / "session.json"
    doc = json.loads(path.read_text())
    doc["name"] = "evil\x1b[2J\u202etxt.exe"
    path.write_text(json.dumps(doc))

    result = run(store.root, "list")
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    assert "evil\\x1b[2J\\u202etxt.exe" in result.stdout


def test_data_dir_comes_from_the_environment_then_platformdirs(store: SessionStore,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    meta = store.create_session("from env")
    monkeypatch.setenv(cli.DATA_DIR_ENV, str(store.root))
    assert cli.default_data_dir() == store.root
    rows = json.loads(CliRunner().invoke(cli.cli, ["list", "--json"]).stdout)
    assert [r["id"] for r in rows] == [meta.id]
    monkeypatch.delenv(cli.DATA_DIR_ENV)
    assert cli.default_data_dir() == Path(platformdirs.user_data_dir("session-manager"))


def test_version() -> None:
    result = CliRunner().invoke(cli.cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.stdout


# ----- show -------------------------------------------------------------------------------


def test_show_by_name_and_id_prefix_with_checkpoints(store: SessionStore) -> None:
    meta = store.create_session("My Story")
    first = add(store, meta.id, "abc", label="opening", model=ModelInfo(name="gemma.gguf", loader="llama.cpp"))
    second_id = new_checkpoint_id()
    store.add_checkpoint(meta.id, Checkpoint(id=second_id, created=utcnow(), output_text="x" * 50, trigger="stop",
                                             kv=KVRef(file=f"{second_id}.kv", bytes=2_000_000, n_tokens=321,
                                                      fingerprint="f", backend="llama-cpp-python")))
    store.kv_path(meta.id, second_id).parent.mkdir()
    store.kv_path(meta.id, second_id).write_bytes(b"k" * 10)

    doc = json.loads(run(store.root, "show", "my story", "--json").stdout)
    assert doc["session"]["id"] == meta.id and doc["session"]["name"] == "My Story"
    assert doc["session"]["checkpoints"] == 2 and doc["autosave"] is None
    newest, oldest = doc["checkpoints"]
    assert newest["id"] == second_id and newest["trigger"] == "stop" and newest["chars"] == 50
    assert newest["kv"] == {"tokens": 321, "bytes": 2_000_000, "backend": "llama-cpp-python", "present": True}
    assert oldest["id"] == first.id and oldest["label"] == "opening" and oldest["model"] == "gemma.gguf"
    assert oldest["chars"] == len("abc there was") and oldest["kv"] is None

    result = run(store.root, "show", meta.id[:-3])
    assert result.exit_code == 0
    assert "My Story" in result.stdout and "321 tok, 2.0 MB" in result.stdout and "opening" in result.stdout


def test_show_an_ambiguous_name_lists_the_candidates_and_exits_2(store: SessionStore) -> None:
    a = store.create_session("Twin")
    b = store.create_session("Twin")
    result = run(store.root, "show", "Twin")
    assert_clean_error(result, code=2)
    assert a.id in result.stderr and b.id in result.stderr
    assert run(store.root, "show", a.id).exit_code == 0  # an id always works


def test_show_an_unknown_session_is_one_clear_error(store: SessionStore) -> None:
    store.create_session("here")
    result = run(store.root, "show", "not there")
    assert_clean_error(result)
    assert result.stderr.count("\n") == 1 and "not there" in result.stderr
    assert result.stdout == ""


def test_show_warns_about_a_checkpoint_it_had_to_set_aside(store: SessionStore) -> None:
    meta = store.create_session("s")
    good = add(store, meta.id)
    bad = add(store, meta.id)
    (store.session_dir(meta.id) / "checkpoints" / f"{bad.id}.json").write_text("{")

    result = run(store.root, "show", "s", "--json")
    assert result.exit_code == 0
    assert [c["id"] for c in json.loads(result.stdout)["checkpoints"]] == [good.id]
    assert "Warning:" in result.stderr and bad.id in result.stderr and "broken" in result.stderr


# ----- rm ---------------------------------------------------------------------------------


def test_rm_without_yes_and_without_a_terminal_deletes_nothing(store: SessionStore) -> None:
    meta = store.create_session("keep me")
    add(store, meta.id)
    result = run(store.root, "rm", "keep me", input="y\n")
    assert_clean_error(result)
    assert "--yes" in result.stderr
    assert store.get_session(meta.id).name == "keep me"


def test_rm_asks_on_a_terminal(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_stdin_is_tty", lambda: True)
    meta = store.create_session("maybe")
    add(store, meta.id)
    add(store, meta.id)

    declined = run(store.root, "rm", "maybe", input="n\n")
    assert declined.exit_code == 1
    assert "Delete session 'maybe' (2 checkpoints)? [y/N]" in declined.stdout
    assert store.session_dir(meta.id).exists()

    accepted = run(store.root, "rm", "maybe", input="y\n")
    assert accepted.exit_code == 0
    assert not store.session_dir(meta.id).exists()


def test_rm_yes_deletes_only_that_session(store: SessionStore) -> None:
    gone = store.create_session("gone")
    kept = store.create_session("kept")
    result = run(store.root, "rm", gone.id, "--yes")
    assert result.exit_code == 0 and "Deleted session 'gone'" in result.stdout
    assert [r["id"] for r in json.loads(run(store.root, "list", "--json").stdout)] == [kept.id]
    assert run(store.root, "rm", gone.id, "--yes").exit_code == 1


# ----- doctor -----------------------------------------------------------------------------


def test_doctor_on_a_healthy_store_exits_0(store: SessionStore) -> None:
    add(store, store.create_session("fine").id)
    result = run(store.root, "doctor")
    assert result.exit_code == 0 and "all is well" in result.stdout
    doc = json.loads(run(store.root, "doctor", "--json").stdout)
    assert doc == {"root": str(store.root), "ok": True, "sessions": 1, "findings": []}


def test_doctor_sets_broken_files_aside_and_the_rest_still_lists(store: SessionStore) -> None:
    healthy = [store.create_session(f"healthy {i}") for i in range(3)]
    for meta in healthy:
        add(store, meta.id)
    hurt = store.create_session("hurt")
    bad = add(store, hurt.id)
    bad_path = store.session_dir(hurt.id) / "checkpoints" / f"{bad.id}.json"
    bad_path.write_text('{"id": "' + bad.id + '", "created": 12')
    stray = store.session_dir(healthy[0].id) / ".session.json.abcdef.tmp"
    stray.write_text("half a write")
    os.utime(stray, (time.time() - 3600,) * 2)  # older than doctor's grace period for writes in progress

    result = run(store.root, "doctor", "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    by_path = {f["path"]: f for f in doc["findings"]}
    broken = by_path[str(bad_path)]
    assert broken["severity"] == "error" and "JSON" in broken["problem"]
    assert Path(broken["moved_to"]).parent == store.root / "broken" and Path(broken["moved_to"]).exists()
    assert by_path[str(stray)]["severity"] == "repaired" and not stray.exists()

    listed = json.loads(run(store.root, "list", "--json").stdout)
    assert {r["id"] for r in listed} == {m.id for m in healthy} | {hurt.id}
    again = run(store.root, "doctor")
    assert again.exit_code == 0


def test_doctor_text_report_says_what_and_where(store: SessionStore) -> None:
    meta = store.create_session("s")
    add(store, meta.id)
    (store.session_dir(meta.id) / "session.json").write_text('{"id": "' + meta.id + '", "name": 5}')

    result = run(store.root, "doctor")
    assert result.exit_code == 1
    assert "ERROR" in result.stdout and "session.json" in result.stdout
    assert "moved to broken/" in result.stdout and "recreated" in result.stdout
    assert len(list((store.root / "broken").iterdir())) == 1


# ----- install ----------------------------------------------------------------------------


def test_install_links_the_extension_and_says_how_to_enable_it(textgen: Path, extension: Path) -> None:
    result = CliRunner().invoke(cli.cli, ["install", str(textgen)])
    assert result.exit_code == 0, result.output
    target = textgen / "user_data" / "extensions" / "session_manager"
    assert target.is_symlink() and target.resolve() == extension.resolve()
    assert "--extensions session_manager" in result.stdout and "requirements.txt" in result.stdout
    assert "Session tab" in result.stdout
    again = CliRunner().invoke(cli.cli, ["install", str(textgen)])
    assert again.exit_code == 0 and "already installed" in again.stdout


def test_install_copy_leaves_out_the_environment(textgen: Path, extension: Path) -> None:
    result = CliRunner().invoke(cli.cli, ["install", str(textgen), "--copy"])
    assert result.exit_code == 0, result.output
    target = textgen / "user_data" / "extensions" / "session_manager"
    assert not target.is_symlink() and (target / "script.py").is_file()
    assert not (target / ".venv").exists()


def test_install_refuses_a_different_folder_unless_forced(textgen: Path, extension: Path) -> None:
    target = textgen / "user_data" / "extensions" / "session_manager"
    target.mkdir(parents=True)
    (target / "mine.txt").write_text("user's own work")

    refused = CliRunner().invoke(cli.cli, ["install", str(textgen)])
    assert_clean_error(refused)
    assert "--force" in refused.stderr and (target / "mine.txt").exists() and not target.is_symlink()

    forced = CliRunner().invoke(cli.cli, ["install", str(textgen), "--force"])
    assert forced.exit_code == 0, forced.output
    assert target.is_symlink()
    [kept] = (textgen / "user_data").glob("session_manager-replaced-*")
    assert (kept / "mine.txt").read_text() == "user's own work"


def test_install_refuses_a_folder_that_is_not_textgen(tmp_path: Path, extension: Path) -> None:
    result = CliRunner().invoke(cli.cli, ["install", str(tmp_path)])
    assert result.exit_code == 2 and "does not look like text-generation-webui" in result.stderr
    assert not (tmp_path / "user_data").exists()


def test_the_real_extension_folder_holds_script_py() -> None:
    assert (cli.extension_source() / "script.py").is_file()


# ----- demo -------------------------------------------------------------------------------


def test_demo_hands_its_options_to_the_demo_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    fake = types.ModuleType("session_manager.hosts.demo")
    fake.run = lambda **kwargs: calls.append(kwargs)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "session_manager.hosts.demo", fake)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")

    result = run(tmp_path / "store", "demo", "--model", str(model), "--port", "7999", "--no-browser")
    assert result.exit_code == 0, result.output
    assert calls == [{"model": model, "data_dir": tmp_path / "store", "port": 7999, "open_browser": False}]


def test_demo_without_its_packages_names_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import session_manager.hosts as hosts

    for name in ("session_manager.hosts.demo", "session_manager.hosts.demo.app", "session_manager.hosts.demo.chat_tab"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.delattr(hosts, "demo", raising=False)
    monkeypatch.setitem(sys.modules, "gradio", None)

    result = run(tmp_path, "demo")
    assert_clean_error(result)
    assert "gradio" in result.stderr and "session-manager[demo]" in result.stderr


def test_export_then_import_through_the_cli(tmp_path: Path) -> None:
    from session_manager.cli import cli as command
    from session_manager.models import Checkpoint, new_checkpoint_id, utcnow

    source = SessionStore(tmp_path / "a")
    meta = source.create_session("Travel notes")
    source.add_checkpoint(meta.id, Checkpoint(id=new_checkpoint_id(), created=utcnow(), input_text="Day one"))
    runner = CliRunner()
    out = runner.invoke(command, ["--data-dir", str(source.root), "export", "Travel notes", "--to",
                                  str(tmp_path / "out")])
    assert out.exit_code == 0, out.output
    (archive,) = (tmp_path / "out").glob("*.zip")
    into = tmp_path / "b"
    result = runner.invoke(command, ["--data-dir", str(into), "import", str(archive)])
    assert result.exit_code == 0, result.output
    (row,) = SessionStore(into).list_sessions()
    assert row.meta.name == "Travel notes" and row.n_checkpoints == 1
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    failed = runner.invoke(command, ["--data-dir", str(into), "import", str(bad)])
    assert failed.exit_code == 1 and "not a readable zip" in failed.output


def test_gc_removes_the_oldest_kv_snapshots_beyond_the_budget_and_keeps_pinned_ones(tmp_path: Path) -> None:
    from session_manager.models import new_checkpoint_id
    from session_manager.store import SessionStore

    root = tmp_path / "store"
    store = SessionStore(root)
    session_id = store.create_session("blobs").id
    ids = [new_checkpoint_id() for _ in range(4)]
    for checkpoint_id in ids:
        blob = store.kv_path(session_id, checkpoint_id)
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(bytes(600_000))
    store.refresh()
    result = run(root, "gc", "--budget-mb", "1", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["removed"] == 3 and report["freed_bytes"] == 1_800_000
    assert [checkpoint_id for checkpoint_id in ids if store.kv_path(session_id, checkpoint_id).exists()] == ids[-1:]
    assert "nothing removed" in run(root, "gc", "--budget-mb", "1").output
