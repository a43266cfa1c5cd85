"""Training files with tool use, content parts, images and weights: carried as data, written back in the same shape.

Shapes:
- OpenAI's fine-tuning data (platform docs, "Fine-tuning" / "Function calling" examples): assistant turns
  with ``tool_calls`` and no content, ``tool`` turns with ``tool_call_id``, a ``tools`` list, a per-message
  ``weight``, content-part lists with ``image_url`` parts.
- LLaMA-Factory's demo data (data/glaive_toolcall_en_demo.json: ShareGPT ``function_call`` and
  ``observation`` turns and a ``tools`` string; data/mllm_demo.json: ``<image>`` in the text and an
  ``images`` list of paths).
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from session_manager import cli
from session_manager.store import SessionStore

WEATHER_CALL = {"id": "call_1", "type": "function",
                "function": {"name": "get_current_weather", "arguments": '{"location": "Paris", "format": "celsius"}'}}
OPENAI_TOOLS = {"messages": [
    {"role": "system", "content": "You are a weather bot."},
    {"role": "user", "content": "What is the weather in Paris?"},
    {"role": "assistant", "tool_calls": [WEATHER_CALL]},
    {"role": "tool", "tool_call_id": "call_1", "content": "21.0"},
    {"role": "assistant", "content": "It is 21 degrees in Paris.", "weight": 1},
], "tools": [{"type": "function", "function": {"name": "get_current_weather", "parameters": {"type": "object"}}}]}
OPENAI_PARTS = {"messages": [
    {"role": "user", "content": [{"type": "text", "text": "What is in this picture?"},
                                 {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]},
    {"role": "assistant", "content": "A cat asleep on a keyboard.", "weight": 0},
    {"role": "user", "content": "And its colour?"},
    {"role": "assistant", "content": "Ginger."},
]}
GLAIVE = {"conversations": [
    {"from": "human", "value": "Convert 100 USD to EUR."},
    {"from": "function_call", "value": '{"name": "convert_currency", "arguments": {"amount": 100}}'},
    {"from": "observation", "value": '{"converted_amount": 92.5}'},
    {"from": "gpt", "value": "100 USD is 92.50 EUR."},
], "tools": '[{"name": "convert_currency", "parameters": {"type": "object"}}]'}
MLLM = {"messages": [{"content": "<image>Who are they?", "role": "user"},
                     {"content": "They are players of a football team.", "role": "assistant"}],
        "images": ["mllm_demo_data/1.jpg"]}


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli.cli, list(args))


def round_trip(tmp_path: Path, name: str, text: str, fmt: str) -> tuple[Result, list[dict]]:
    source = tmp_path / name
    source.write_text(text, encoding="utf-8")
    root = tmp_path / "store"
    imported = invoke("import", str(source), "--data-dir", str(root))
    out = tmp_path / "out.jsonl"
    exported = invoke("export", "--all", "--format", fmt, "-o", str(out), "--data-dir", str(root))
    assert exported.exit_code == 0, exported.output
    return imported, [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def test_openai_tool_calls_parts_and_weights_come_back_as_they_were(tmp_path: Path) -> None:
    samples = [OPENAI_TOOLS, OPENAI_PARTS]
    imported, lines = round_trip(tmp_path, "ft.jsonl", "\n".join(json.dumps(s) for s in samples), "messages")
    assert imported.exit_code == 0 and imported.output.splitlines()[-1] == "Imported 2.", imported.output
    assert lines == samples


def test_llama_factory_tool_and_image_samples_come_back_as_they_were(tmp_path: Path) -> None:
    imported, lines = round_trip(tmp_path, "glaive.json", json.dumps([GLAIVE], indent=2), "sharegpt")
    assert imported.exit_code == 0, imported.output
    assert lines == [GLAIVE]
    (tmp_path / "store").rename(tmp_path / "store-glaive")
    imported, lines = round_trip(tmp_path, "mllm.json", json.dumps([MLLM], indent=2), "messages")
    assert lines == [MLLM]


def test_empty_samples_are_skipped_and_counted_and_order_is_kept(tmp_path: Path) -> None:
    rows = [{"messages": [{"role": "user", "content": f"Question {n}"}, {"role": "assistant", "content": f"A{n}"}]}
            for n in range(30)]
    rows[7] = {"messages": []}
    rows[19] = {"messages": []}
    imported, lines = round_trip(tmp_path, "t.jsonl", "\n".join(json.dumps(r) for r in rows), "messages")
    assert imported.exit_code == 0, imported.output
    assert "2 sample(s) without any turn were skipped (line 8, 20)" in imported.output
    assert lines == [r for r in rows if r["messages"]]


def test_a_turn_of_an_unknown_role_or_content_names_both(tmp_path: Path) -> None:
    source = tmp_path / "t.jsonl"
    source.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "robot", "content": "x"}]})
                      + "\n" + json.dumps({"messages": [{"role": "user", "content": 5}]}))
    result = invoke("import", str(source), "--data-dir", str(tmp_path / "store"))
    assert result.exit_code == 1
    assert "t.jsonl line 1 turn 2: its 'role' is \"robot\", not one of" in result.output, result.output


def test_a_bad_line_after_many_batches_imports_nothing(tmp_path: Path) -> None:
    rows = [json.dumps({"prompt": f"Q{n}", "completion": f" A{n}"}) for n in range(1_200)]
    rows[1_150] = json.dumps({"prompt": "Q", "completion": 5})
    source = tmp_path / "t.jsonl"
    source.write_text("\n".join(rows) + "\n")
    result = invoke("import", str(source), "--data-dir", str(tmp_path / "store"))
    assert result.exit_code == 1 and "t.jsonl line 1151 is not a completion sample like the first one" in result.output
    assert not SessionStore(tmp_path / "store").list_sessions()
    rows[1_150] = json.dumps({"prompt": "Q", "completion": " A"})
    source.write_text("\n".join(rows) + "\n")
    result = invoke("import", str(source), "--data-dir", str(tmp_path / "store"))
    assert result.exit_code == 0 and result.stdout.splitlines()[-1] == "Imported 1200."
    store = SessionStore(tmp_path / "store")
    assert store.count_sessions() == 1_200 and store.search("Q1199")[0].meta.name.startswith("Q1199")
