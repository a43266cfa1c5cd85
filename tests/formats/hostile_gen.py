"""A generator of hostile import files, one family per format (hypothesis strategies).

Each file starts as a well-formed file of its format (as the other program writes it) and has some of
its values replaced by values of any other kind: huge or negative numbers, lists where text was, text
with lone surrogates, times in the year 9999, very long strings, nesting; or its bytes cut off at any
point. ``check_import`` states what must hold for every one of them: the import answers with one line
per source (never a Python error's words), and every session it added can be read back whole.
Used by tests/formats/test_hostile_generated.py (a few seconds) and bench/import_fuzz.py (a long run).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from session_manager.formats import import_paths
from session_manager.store import SessionStore

PYTHON_WORDS = ("Traceback", "TypeError", "ValueError", "KeyError", "AttributeError", "IndexError", "unhashable",
                "object is not", "Exceeds the limit", "NoneType")

_HUGE = "<a number of 5,000 digits>"  # put into the JSON text as such (hypothesis cannot show the int itself)
_SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([_HUGE, -1, 0, 253402300799, 253402300799000, 2**63]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(["", "unused", "9999-12-31T23:59:59Z", "0000-01-01", "\ud800", "x" * 5000, "<|BEGIN-VISIBLE-CHAT|>",
                     "narrator", "tool", "function_call", "slash command", "../../etc/passwd"]),
)
VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                      max_leaves=12)


def _sillytavern() -> list[dict[str, Any]]:
    return [{"user_name": "unused", "character_name": "unused", "create_date": "2025-5-1 @17h 30m 00s 000ms",
             "chat_metadata": {"integrity": "x"}},
            {"name": "Bo", "is_user": False, "is_system": False, "send_date": "May 1, 2025 5:30pm", "mes": "Hello",
             "swipes": ["Hello", "Hi"], "swipe_id": 0, "extra": {"api": "openai", "model": "m"}},
            {"name": "Ana", "is_user": True, "is_system": False, "send_date": 1746111000000, "mes": "Hi", "extra": {}},
            {"name": "System", "is_user": False, "is_system": False, "mes": "Night falls.",
             "extra": {"type": "narrator", "api": "manual", "model": "slash command"}}]


def _textgen() -> dict[str, Any]:
    return {"internal": [["<|BEGIN-VISIBLE-CHAT|>", "Hello"], ["Hi", "Hey there"]],
            "visible": [["", "Hello"], ["Hi", "Hey there"]],
            "metadata": {"assistant_0": {"timestamp": "May 01, 2025 17:30"},
                         "user_1": {"timestamp": "May 01, 2025 17:31"},
                         "assistant_1": {"timestamp": "May 01, 2025 17:31", "model_name": "m.gguf"}}}


def _open_webui() -> list[dict[str, Any]]:
    messages = {"a": {"id": "a", "parentId": None, "childrenIds": ["b"], "role": "user", "content": "Plan a trip",
                      "timestamp": 1714584000},
                "b": {"id": "b", "parentId": "a", "childrenIds": [], "role": "assistant", "content": "Go north.",
                      "timestamp": 1714584060, "model": "llama3:8b"}}
    chat = {"title": "Trip", "models": ["llama3:8b"], "params": {"temperature": 1},
            "history": {"messages": messages, "currentId": "b"}, "messages": list(messages.values())}
    return [{"id": "c1", "title": "Trip", "chat": chat,
             "created_at": 1714584000, "updated_at": 1714587600, "pinned": False, "archived": False,
             "meta": {"tags": ["work"]}, "folder_id": None, "share_id": None}]


def _training() -> list[dict[str, Any]]:
    return [{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                          {"role": "assistant", "content": "Hello", "weight": 1}],
             "metadata": {"session": "S", "session_id": "x", "created": "2025-05-01T17:30:00+00:00",
                          "trigger": "stop", "params": {"temperature": 0.7}, "model": {"name": "m"}, "seed": 1}},
            {"conversations": [{"from": "human", "value": "Convert"}, {"from": "function_call", "value": "{}"},
                               {"from": "observation", "value": "{}"}, {"from": "gpt", "value": "Done"}],
             "tools": "[]"},
            {"prompt": "Once", "completion": " upon a time"}]


def _legacy() -> dict[str, Any]:
    return {"2023-06-01@10-00-00": {"model": "m", "prompt": "Once", "reply": " upon",
                                    "parameters": {"temperature": 0.7, "seed": -1, "gpu_memory_0": 0,
                                                   "textbox-notebook": "A story", "output_textbox": "Once upon"}},
            "auto_save": {"timestamp": "2023-06-01@10-05-00", "prompt": "Once", "reply": " upon a"}}


def _export() -> dict[str, Any]:
    return {"session_manager_export": 1,
            "session": {"id": "20240101T000000Z-abcdef", "name": "S", "created": "2024-01-01T00:00:00Z",
                        "updated": "2024-01-01T00:00:00Z", "tags": ["t"], "notes": "n"},
            "checkpoints": [{"id": "20240101T000000000Z-abcdef", "created": "2024-01-01T00:00:00Z",
                             "input_text": "x", "params": {"a": 1}}]}


FORMATS: dict[str, tuple[str, Any]] = {
    "sillytavern": ("chat.jsonl", _sillytavern), "textgen": ("20250501-17-30-00.json", _textgen),
    "open-webui": ("chat-export.json", _open_webui), "training": ("data.jsonl", _training),
    "legacy": ("2023-06-01@10-00-00_Once.json", _legacy), "export": ("S-export.json", _export),
}


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += _paths(value, (*prefix, index))
    return found


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {**doc, head: _replace(doc[head], rest, value)}
    return [_replace(item, rest, value) if index == head else item for index, item in enumerate(doc)]


@st.composite
def hostile_file(draw: st.DrawFn, fmt: str) -> tuple[str, bytes]:
    """(file name, bytes) of a file of ``fmt`` with some values replaced, or cut off."""
    name, make = FORMATS[fmt]
    doc = make()
    paths = _paths(doc)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        path = draw(st.sampled_from(paths))
        doc = _replace(doc, path, draw(VALUES))
        paths = _paths(doc)
    if name.endswith(".jsonl") and isinstance(doc, list):
        text = "\n".join(json.dumps(row) for row in doc)
    else:
        text = json.dumps(doc, indent=draw(st.sampled_from([None, 2, 4])))
    data = text.replace(json.dumps(_HUGE), "9" * 5000).encode("utf-8", "surrogatepass")
    if draw(st.booleans()) and data:
        data = data[:draw(st.integers(min_value=0, max_value=len(data)))]
    return name, data


def check_import(root: Path, folder: Path, name: str, data: bytes) -> None:
    """Import one generated file into a fresh store; what must hold for any file."""
    path = folder / name
    path.write_bytes(data)
    store = SessionStore(root)
    report = import_paths(store, [path])
    assert report.items, "every source gets a line"
    for item in report.items:
        assert "\n" not in item.message and not any(word in item.message for word in PYTHON_WORDS), item.message
        assert len(item.message) < 2000, item.message[:300]
    again = SessionStore(root)
    for row in again.list_sessions():
        again.get_session(row.meta.id)
        again.list_checkpoints(row.meta.id)
    assert not again.problems, again.problems
