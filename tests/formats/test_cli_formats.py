"""`session-manager import` and `export` with the new formats, --data-dir anywhere, progress on a terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from session_manager import cli
from session_manager.store import SessionStore

from .foreign import textgen_history, write_textgen_chat, write_textgen_prompt
from .sessions import chat_session, default_session, notebook_session


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli.cli, list(args))


@pytest.mark.parametrize("args", [["list"], ["list", "--json"], ["doctor"], ["show", "Lighthouse"],
                                  ["export", "Lighthouse", "--format", "markdown", "--to", "{out}"],
                                  ["import", "{file}"], ["rm", "Haiku", "--yes"]])
def test_data_dir_works_after_the_command(store: SessionStore, tmp_path: Path, args: list[str]) -> None:
    default_session(store)
    notebook_session(store)
    export = tmp_path / "one.md"
    export.write_text("# not importable")
    args = [a.format(out=tmp_path / "out", file=tmp_path / "out") for a in args]
    if args[0] == "import":
        write_textgen_prompt(tmp_path / "tg", "p", "A prompt")
        args = ["import", str(tmp_path / "tg")]
    result = invoke(*args, "--data-dir", str(store.root))
    assert result.exit_code == 0, result.output
    assert "No such option" not in result.output and "No sessions yet" not in result.output


def test_data_dir_after_the_command_wins_over_the_one_before(store: SessionStore, tmp_path: Path) -> None:
    default_session(store)
    empty = tmp_path / "empty"
    rows = json.loads(invoke("--data-dir", str(empty), "list", "--json", "--data-dir", str(store.root)).stdout)
    assert [r["name"] for r in rows] == ["Lighthouse"]


def test_every_command_accepts_data_dir() -> None:
    for name, command in cli.cli.commands.items():
        assert any("--data-dir" in p.opts for p in command.params if hasattr(p, "opts")), name


def test_import_a_textgen_folder_reports_each_file_and_is_quiet_with_json(tmp_path: Path) -> None:
    user_data = tmp_path / "textgen" / "user_data"
    write_textgen_prompt(user_data, "Lighthouse", "The keeper")
    write_textgen_prompt(user_data, "new", "In this story,")
    write_textgen_chat(user_data, "Aria", "20240501-17-32-05", textgen_history([("Hi", "Hello!")]))
    root = tmp_path / "store"

    result = invoke("import", str(tmp_path / "textgen"), "--data-dir", str(root))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[-1] == "Imported 2, skipped 1."
    assert any(line.startswith("imported notebook/Lighthouse.txt -> 'Lighthouse' [") for line in lines)
    assert "skipped  notebook/new.txt holds only textgen's starter text ('In this story,')" in lines

    again = invoke("import", str(tmp_path / "textgen"), "--json", "--data-dir", str(root))
    doc = json.loads(again.stdout)
    assert (doc["imported"], doc["skipped"], doc["failed"]) == (0, 3, 0)
    assert again.stderr == ""


def test_import_exits_1_when_a_file_failed_and_still_takes_the_rest(tmp_path: Path) -> None:
    good = write_textgen_prompt(tmp_path / "ud", "good", "Some text")
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    result = invoke("--data-dir", str(tmp_path / "store"), "import", str(good), str(bad))
    assert result.exit_code == 1
    assert "failed   bad.zip is not a readable zip file" in result.stdout
    assert len(SessionStore(tmp_path / "store").list_sessions()) == 1


def test_a_progress_bar_on_a_terminal_and_none_with_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_stderr_is_tty", lambda: True)
    user_data = tmp_path / "ud"
    for n in range(3):
        write_textgen_prompt(user_data, f"p{n}", f"text {n}")
    shown = invoke("--data-dir", str(tmp_path / "a"), "import", str(user_data))
    assert shown.exit_code == 0 and "Importing" in shown.stderr
    quiet = invoke("--data-dir", str(tmp_path / "b"), "import", str(user_data), "--json")
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_export_many_sessions_into_one_zip_and_back(store: SessionStore, tmp_path: Path) -> None:
    chat_session(store)
    default_session(store)
    notebook_session(store)
    out = tmp_path / "backup.zip"
    result = invoke("--data-dir", str(store.root), "export", "--tag", "fiction", "--no-kv", "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"format": "zip", "sessions": 2, "files": [str(out)]}
    other = tmp_path / "other"
    assert invoke("--data-dir", str(other), "import", str(out)).exit_code == 0
    assert sorted(r.meta.name for r in SessionStore(other).list_sessions()) == ["Aria at the inn", "Lighthouse"]


def test_export_training_data_and_documents(store: SessionStore, tmp_path: Path) -> None:
    chat_session(store)
    default_session(store)
    data = tmp_path / "data.jsonl"
    result = invoke("--data-dir", str(store.root), "export", "--all", "--format", "sharegpt", "--checkpoints",
                    "stops", "--metadata", "-o", str(data))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Wrote 3 sample(s) to {data}")
    assert all("metadata" in json.loads(line) for line in data.read_text().splitlines())

    pages = invoke("--data-dir", str(store.root), "export", "--all", "--format", "html", "--to", str(tmp_path / "p"))
    assert pages.exit_code == 0 and len(list((tmp_path / "p").glob("*.html"))) == 2


def test_export_needs_a_choice_and_names_an_empty_one(store: SessionStore) -> None:
    default_session(store)
    nothing = invoke("--data-dir", str(store.root), "export")
    assert nothing.exit_code == 2 and "--tag, --search or --all" in nothing.stderr
    none = invoke("--data-dir", str(store.root), "export", "--tag", "poetry")
    assert none.exit_code == 1 and "no session matches the tag 'poetry'" in none.stderr
