"""Training exports: which checkpoints, which samples are left out, and the way back in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from session_manager.choices import TrainingFormat
from session_manager.formats import export_training, import_paths
from session_manager.store import SessionStore

from .sessions import chat_session, default_session, notebook_session


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_chat_messages_from_every_stop(store: SessionStore, tmp_path: Path) -> None:
    chat = chat_session(store)
    result = export_training(store, [chat], tmp_path / "out.jsonl", "messages", choose=["stops"])
    first, second = lines(result.path)
    assert first["messages"] == [
        {"role": "system", "content": "Aria is an innkeeper who talks to Ana."},
        {"role": "assistant", "content": "Welcome, {{user}}!"},
        {"role": "user", "content": "Hi! Who are you?"},
        {"role": "assistant", "content": "I'm Aria."}]
    assert second["messages"][-2:] == [{"role": "user", "content": "Any <rooms> free?"},
                                       {"role": "assistant", "content": "One, up the stairs & left."}]
    assert "metadata" not in first and result.samples == 2


def test_sharegpt_with_metadata_from_pinned_and_latest(store: SessionStore, tmp_path: Path) -> None:
    chat = chat_session(store)
    result = export_training(store, [chat], tmp_path / "out.jsonl", "sharegpt", choose=["pinned", "latest"],
                             metadata=True)
    pinned, latest = lines(result.path)
    assert [turn["from"] for turn in latest["conversations"]] == ["system", "gpt", "human", "gpt", "human", "gpt"]
    assert pinned["metadata"]["label"] == "hello" and pinned["metadata"]["trigger"] == "stop"
    assert latest["metadata"]["model"]["name"] == "gemma-3-270m-q4_k_m.gguf"
    assert latest["metadata"]["params"]["temperature"] == 0.7 and latest["metadata"]["session"] == "Aria at the inn"
    assert latest["metadata"]["chat"]["character"] == "Aria"


def test_empty_and_duplicate_samples_are_left_out_and_counted(store: SessionStore, tmp_path: Path) -> None:
    chat = chat_session(store)  # its last two checkpoints hold the same conversation
    lighthouse = default_session(store)  # its first checkpoint has a prompt and no reply yet
    result = export_training(store, [chat, lighthouse], tmp_path / "out.jsonl", "messages", choose=["all"])
    assert (result.samples, result.duplicates, result.empty) == (3, 1, 1)
    assert "left out 1 empty, 1 duplicate" in result.summary()


def test_prompt_completion_takes_default_and_notebook_work(store: SessionStore, tmp_path: Path) -> None:
    ids = [chat_session(store), default_session(store), notebook_session(store)]
    result = export_training(store, ids, tmp_path / "out.jsonl", "completion", choose=["latest"])
    assert lines(result.path) == [{"prompt": "The keeper climbed", "completion": " the stairs."},
                                  {"prompt": "", "completion": "Snow on the branches\nthe kettle sings"}]
    assert result.not_applicable == 1


def test_progress_is_reported_per_session(store: SessionStore, tmp_path: Path) -> None:
    ids = [default_session(store), notebook_session(store)]
    calls: list[tuple[int, int, str]] = []
    export_training(store, ids, tmp_path / "out.jsonl", "messages", progress=lambda *a: calls.append(a))
    assert calls == [(0, 2, "Lighthouse"), (1, 2, "Haiku"), (2, 2, "")]


@pytest.mark.parametrize("fmt", ["messages", "sharegpt", "completion"])
def test_a_training_export_with_metadata_imports_back_unchanged(store: SessionStore, tmp_path: Path,
                                                                fmt: TrainingFormat) -> None:
    ids = [chat_session(store), default_session(store), notebook_session(store)]
    first = export_training(store, ids, tmp_path / "first.jsonl", fmt, choose=["all"], metadata=True)

    into = SessionStore(tmp_path / "other")
    report = import_paths(into, [first.path])
    assert report.failed == [] and len(report.taken) == (2 if fmt == "completion" else 3)
    again = export_training(into, [i.session_id for i in report.taken], tmp_path / "again.jsonl", fmt,
                            choose=["all"], metadata=True)

    def without_session_id(rows: list[dict]) -> list[dict]:
        return sorted(json.dumps({**row, "metadata": {**row["metadata"], "session_id": None}}, sort_keys=True)
                       for row in rows)

    assert without_session_id(lines(again.path)) == without_session_id(lines(first.path))
    assert (again.samples, again.duplicates, again.empty) == (first.samples, 0, 0)


def test_a_dataset_from_elsewhere_becomes_one_chat_per_line(store: SessionStore, tmp_path: Path) -> None:
    path = tmp_path / "dataset.json"  # ShareGPT datasets often come as one JSON array
    path.write_text(json.dumps([
        {"conversations": [{"from": "human", "value": "What is 2+2?"}, {"from": "gpt", "value": "4"}]},
        {"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Capital of France?"},
                           {"from": "gpt", "value": "Paris"}]}]))
    report = import_paths(store, [path])
    assert sorted(item.name for item in report.taken) == ["Capital of France?", "What is 2+2?"]
    brief = next(item for item in report.taken if item.name == "Capital of France?")
    [checkpoint] = store.list_checkpoints(brief.session_id)
    assert checkpoint.chat.chat_mode == "instruct" and checkpoint.params == {"custom_system_message": "Be brief."}
    assert checkpoint.history["internal"] == [["Capital of France?", "Paris"]]


def test_a_broken_line_imports_nothing_from_the_file(store: SessionStore, tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'
                    '{"messages": [{"role": "user", "content": 5}]}\n')
    [item] = import_paths(store, [path]).items
    assert item.status == "failed" and "data.jsonl line 2" in item.message
    assert store.list_sessions() == []


def test_an_interrupted_export_keeps_the_previous_file(store: SessionStore, tmp_path: Path) -> None:
    ids = [default_session(store), notebook_session(store)]
    dest = tmp_path / "data.jsonl"
    dest.write_text("the previous dataset\n")

    def interrupt(done: int, total: int, what: str) -> None:
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_training(store, ids, dest, "messages", progress=interrupt)
    assert dest.read_text() == "the previous dataset\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
