"""Files of foreign formats, written the way their programs write them (from the programs' code and docs).

- The original session_manager extension (bekkayya/session_manager, script.py): one JSON file per
  session, ``json.dump(data, file, indent=2)``, named ``<stamp>_<prompt start>`` + uuid padding.
- textgen (modules/chat.py save_history, modules/ui_notebook.py autosave_prompt).
- SillyTavern (src/endpoints/chats.js): ``chat.map(JSON.stringify).join('\\n')``.
- Open WebUI (its chat menu's JSON export): ``JSON.stringify([chat])``.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

LEGACY_STAMP = "%Y-%m-%d@%H-%M-%S"
TEXTGEN_MESSAGE_TIME = "%b %d, %Y %H:%M"


def legacy_file_name(stamp: str, prompt: str) -> str:
    """new_session(): the stamp, the prompt's first 37 characters cleaned, padded with a uuid's start."""
    fill = "_" + str(uuid.uuid4())
    shorter = prompt[:len(fill)]
    filler = fill[:len(fill) - len(shorter)]
    return re.sub(r'[\/:*?"<>|\n ]', "_", f"{stamp}_{shorter}") + filler


def write_legacy(folder: Path, name: str, data: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    with open(path, "w") as handle:
        json.dump(data, handle, indent=2)
    return path


def legacy_checkpoint(prompt: str | None, reply: str | None, page_output: str | None, model: str = "gemma-3.gguf",
                      **params: Any) -> dict[str, Any]:
    """save_session(): the interface state as parameters, the captured text boxes added to them."""
    parameters = {"temperature": 0.7, "top_p": 0.9, "max_new_tokens": 200, "seed": -1, "loader": "llama.cpp",
                  "n_ctx": 4096, "n_gpu_layers": 0, **params}
    parameters["output_textbox"] = page_output
    parameters["textbox-default"] = prompt
    return {"model": model, "prompt": prompt, "reply": reply, "parameters": parameters}


def write_textgen_prompt(user_data: Path, name: str, text: str) -> Path:
    path = user_data / "logs" / "notebook" / f"{name}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def textgen_history(exchanges: list[tuple[str, str]], greeting: str = "", when: datetime | None = None
                    ) -> dict[str, Any]:
    """start_new_chat() then one reply per exchange, as chatbot_wrapper leaves the history."""
    stamp = (when or datetime(2024, 5, 1, 17, 32)).strftime(TEXTGEN_MESSAGE_TIME)
    history: dict[str, Any] = {"internal": [], "visible": [], "metadata": {}}
    if greeting:
        history["internal"].append(["<|BEGIN-VISIBLE-CHAT|>", greeting])
        history["visible"].append(["", html.escape(greeting)])
        history["metadata"]["assistant_0"] = {"timestamp": stamp}
    for user, bot in exchanges:
        row = len(history["internal"])
        history["internal"].append([user, bot])
        history["visible"].append([html.escape(user), html.escape(bot)])
        history["metadata"][f"user_{row}"] = {"timestamp": stamp}
        history["metadata"][f"assistant_{row}"] = {"timestamp": stamp}
    return history


def write_textgen_chat(user_data: Path, character: str | None, unique_id: str, history: dict[str, Any]) -> Path:
    """save_history(): logs/chat/<character>/<id>.json, or logs/instruct/<id>.json in instruct mode."""
    folder = user_data / "logs" / ("instruct" if character is None else f"chat/{character}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{unique_id}.json"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(history, indent=4, ensure_ascii=False))
    return path


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    """JavaScript's JSON.stringify per line, joined by newlines, no newline at the end."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) for row in rows),
                    encoding="utf-8")
    return path


def sillytavern_chat(user: str, character: str, messages: list[tuple[bool, str]],
                     dates: list[Any] | None = None) -> list[dict[str, Any]]:
    header = {"user_name": user, "character_name": character, "create_date": "2024-5-1 @17h 30m 00s 000ms",
              "chat_metadata": {"integrity": str(uuid.uuid4()), "note_prompt": "", "tainted": False}}
    rows: list[dict[str, Any]] = [header]
    for index, (is_user, text) in enumerate(messages):
        date = dates[index] if dates else f"May 1, 2024 5:{31 + index:02d}pm"
        row = {"name": user if is_user else character, "is_user": is_user, "is_system": False, "send_date": date,
               "mes": text, "extra": {} if is_user else {"api": "textgenerationwebui", "model": "gemma-3.gguf"}}
        if not is_user:
            row.update(swipes=[text, "another take"], swipe_id=0, swipe_info=[])
        rows.append(row)
    return rows


def open_webui_chat(title: str, turns: list[tuple[str, str]], system: str | None = None,
                    chat_id: str | None = None) -> dict[str, Any]:
    """One chat as Open WebUI's API returns it: the message tree, the flat branch, epoch-second times."""
    messages: dict[str, dict[str, Any]] = {}
    parent = None
    flat = []
    for index, (role, content) in enumerate(turns):
        message_id = str(uuid.uuid4())
        message = {"id": message_id, "parentId": parent, "childrenIds": [], "role": role, "content": content,
                   "timestamp": 1714584000 + 60 * index}
        if role == "assistant":
            message.update(model="llama3:8b", modelName="llama3:8b", done=True)
        else:
            message["models"] = ["llama3:8b"]
        if parent is not None:
            messages[parent]["childrenIds"].append(message_id)
        messages[message_id] = message
        flat.append(message)
        parent = message_id
    chat: dict[str, Any] = {"id": "", "title": title, "models": ["llama3:8b"], "params": {},
                            "history": {"messages": messages, "currentId": parent}, "messages": flat, "tags": [],
                            "timestamp": 1714584000000, "files": []}
    if system is not None:
        chat["system"] = system
    return {"id": chat_id or str(uuid.uuid4()), "user_id": str(uuid.uuid4()), "title": title, "chat": chat,
            "updated_at": 1714587600, "created_at": 1714584000, "share_id": None, "archived": False,
            "pinned": False, "meta": {"tags": ["work"]}, "folder_id": None}


def write_open_webui(path: Path, chats: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(chats, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    return path
