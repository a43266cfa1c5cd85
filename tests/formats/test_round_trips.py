"""README's "Round trips" table, checked row by row against a real round trip through the command line."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from session_manager import cli
from session_manager.store import SessionStore

from .sessions import chat_session, default_session, notebook_session
from .test_bulk import snapshot
from .test_training_shapes import GLAIVE, MLLM, OPENAI_PARTS, OPENAI_TOOLS
from .upstream import textgen_reply_history, write_textgen_json

README = Path(__file__).resolve().parents[2] / "README.md"


def table() -> dict[str, tuple[str, str]]:
    """{key: (out again with, comes back)} of the table under "### Round trips"."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Round trips"):]
    section = section[:section.index("\n## ")] if "\n## " in section else section
    return {key: (out, back) for key, out, back in
            re.findall(r"^\| `([\w-]+)` [^|]*\| ([^|]+?) \| ([^|]+?) \|$", section, re.M)}


def run(*args: str) -> str:
    result = CliRunner().invoke(cli.cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def three(tmp_path: Path) -> SessionStore:
    store = SessionStore(tmp_path / "first")
    default_session(store)
    chat_session(store)
    notebook_session(store)
    return store


def zip_or_json(fmt: str) -> Callable[[Path], bool]:
    def check(tmp_path: Path) -> bool:
        store = three(tmp_path)
        session_id = default_session(store)
        args = ["--format", fmt] if fmt == "json" else []
        run("export", session_id, *args, "--to", str(tmp_path / "out"), "--data-dir", str(store.root))
        [exported] = (tmp_path / "out").iterdir()
        run("import", str(exported), "--data-dir", str(tmp_path / "second"))
        second = SessionStore(tmp_path / "second")
        [row] = second.list_sessions()
        before, after = snapshot(store, session_id), snapshot(second, row.meta.id)
        if fmt == "json":
            before["kv"] = {}
            before["checkpoints"] = [{**c, "kv": None} for c in before["checkpoints"]]
            after["checkpoints"] = [{**c, "kv": None} for c in after["checkpoints"]]
        after["meta"]["tags"] = [t for t in after["meta"]["tags"] if t != "imported"]
        return before == after
    return check


def bulk(tmp_path: Path) -> bool:
    store = three(tmp_path)
    run("export", "--all", "-o", str(tmp_path / "all.zip"), "--data-dir", str(store.root))
    run("import", str(tmp_path / "all.zip"), "--data-dir", str(tmp_path / "second"))
    second = SessionStore(tmp_path / "second")
    by_name = {row.meta.name: row.meta.id for row in second.list_sessions()}
    return all(snapshot(store, row.meta.id) == snapshot(second, by_name[row.meta.name])
               for row in store.list_sessions()) and len(by_name) == 3


def training(fmt: str, metadata: bool) -> Callable[[Path], bool]:
    def check(tmp_path: Path) -> bool:
        flag = ["--metadata"] if metadata else []
        if metadata:
            store = three(tmp_path)
            run("export", "--all", "--format", fmt, "--checkpoints", "all", *flag, "-o", str(tmp_path / "a.jsonl"),
                "--data-dir", str(store.root))
        else:
            samples = {"messages": [OPENAI_TOOLS, OPENAI_PARTS, MLLM], "sharegpt": [GLAIVE],
                       "completion": [{"prompt": "The keeper", "completion": " climbed."},
                                      {"prompt": "Once", "completion": " upon a time"}]}[fmt]
            (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(s) for s in samples) + "\n", encoding="utf-8")
        run("import", str(tmp_path / "a.jsonl"), "--data-dir", str(tmp_path / "second"))
        run("export", "--all", "--format", fmt, "--checkpoints", "all", *flag, "-o", str(tmp_path / "b.jsonl"),
            "--data-dir", str(tmp_path / "second"))
        first, again = lines(tmp_path / "a.jsonl"), lines(tmp_path / "b.jsonl")
        if metadata:  # the session ids are new ones; everything else is the same
            for row in first + again:
                row["metadata"].pop("session_id")
        return len(first) > 0 and first == again
    return check


def textgen_chat(tmp_path: Path) -> bool:
    history = textgen_reply_history("gemma-3-270m-it-Q4_K_M.gguf")
    chat = write_textgen_json(tmp_path / "tg" / "logs" / "chat" / "Aria" / "20250501-17-30-00.json", history)
    run("import", str(chat), "--data-dir", str(tmp_path / "first"))
    first = SessionStore(tmp_path / "first")
    [row] = first.list_sessions()
    run("export", row.meta.id, "--format", "json", "--to", str(tmp_path / "out"), "--data-dir", str(first.root))
    [exported] = (tmp_path / "out").iterdir()
    run("import", str(exported), "--data-dir", str(tmp_path / "second"))
    second = SessionStore(tmp_path / "second")
    [again] = second.list_sessions()
    return second.list_checkpoints(again.meta.id)[0].history == history


CHECKS: dict[str, Callable[[Path], bool]] = {
    "zip": zip_or_json("zip"), "json": zip_or_json("json"), "bulk": bulk,
    "messages-metadata": training("messages", True), "sharegpt-metadata": training("sharegpt", True),
    "completion-metadata": training("completion", True), "messages": training("messages", False),
    "sharegpt": training("sharegpt", False), "completion": training("completion", False),
    "textgen-chat": textgen_chat,
}


def test_the_table_lists_every_round_trip_this_file_checks() -> None:
    assert set(table()) == set(CHECKS)


@pytest.mark.parametrize("key", sorted(CHECKS))
def test_each_row_of_the_table_is_a_real_round_trip(tmp_path: Path, key: str) -> None:
    out, back = table()[key]
    assert back.startswith("identical")
    assert CHECKS[key](tmp_path), f"{key}: {out} does not give back what went in"
