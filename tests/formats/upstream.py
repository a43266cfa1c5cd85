"""Files written exactly as the other programs' own code writes them, with the place in that code.

SillyTavern (github SillyTavern/SillyTavern at ba6f7b7a9, 2024-09, and its 2025 releases):
- src/endpoints/chats.js:197 and :512 write a chat as ``chatData.map(JSON.stringify).join('\\n')``.
- public/script.js:5992 ``saveChat`` (2024): the header ``{user_name: name1, character_name: name2,
  create_date, chat_metadata}``; since 2025 ``saveChat`` and public/scripts/group-chats.js
  ``saveGroupChat`` write ``{chat_metadata, user_name: 'unused', character_name: 'unused'}``.
- public/scripts/group-chats.js:514 ``saveGroupChat`` (2024): ``chat: [...chat]``, no header at all.
- public/scripts/slash-commands.js:3216 ``sendNarratorMessage`` (``/sys``): ``{name, is_user: false,
  is_system: isSystem, send_date, mes, force_avatar, extra: {type: 'narrator', bias, gen_id,
  isSmallSys, api: 'manual', model: 'slash command'}}``.
textgen (ed888c71, modules/chat.py):
- :1240 every reply's metadata gets ``timestamp`` and ``model_name=shared.model_name``.
- :1836 ``save_history``: ``json.dumps(history, indent=4, ensure_ascii=False)`` written in place.
- :1864 ``logs/<character>_persistent.json`` (and ``persistent_<character>.json``), the chat files of
  textgen before 2024: ``{"data": [...], "data_visible": [...]}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

UNUSED_HEADER: dict[str, Any] = {"chat_metadata": {"integrity": "5f0c1e4a-8d2b-4f7e-9a61-0c3b2d7e8f90",
                                                   "tainted": True}, "user_name": "unused", "character_name": "unused"}


def st_message(name: str, text: str, is_user: bool, minute: int, model: str | None = "gemma-3-27b-it") -> dict:
    """A message as SillyTavern's Generate() and sendMessageAsUser() leave it."""
    message: dict[str, Any] = {"name": name, "is_user": is_user, "is_system": False,
                               "send_date": f"May 1, 2025 5:{minute:02d}pm", "mes": text, "extra": {}}
    if not is_user:
        message.update(swipes=[text], swipe_id=0, swipe_info=[{"send_date": message["send_date"], "extra": {}}],
                       gen_started="2025-05-01T15:00:00.000Z", gen_finished="2025-05-01T15:00:04.000Z",
                       extra={"api": "openai", "model": model})
    return message


def st_narrator(text: str, minute: int) -> dict:
    """public/scripts/slash-commands.js:3216 sendNarratorMessage (``/sys text``)."""
    return {"name": "System", "is_user": False, "is_system": False, "send_date": f"May 1, 2025 5:{minute:02d}pm",
            "mes": text, "force_avatar": "img/five.png",
            "extra": {"type": "narrator", "bias": None, "gen_id": 1746111600000, "isSmallSys": False,
                      "api": "manual", "model": "slash command"}}


def write_st(path: Path, rows: list[dict]) -> Path:
    """src/endpoints/chats.js:197: ``chatData.map(JSON.stringify).join('\\n')`` (no newline at the end)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) for row in rows),
                    encoding="utf-8")
    return path


def textgen_reply_history(model: str) -> dict:
    """A chat after two replies since May 2025 (modules/chat.py:1240 adds model_name to each reply)."""
    return {"internal": [["<|BEGIN-VISIBLE-CHAT|>", "Hello, I am Aria."], ["Hi Aria", "Hi! What shall we do?"]],
            "visible": [["", "Hello, I am Aria."], ["Hi Aria", "Hi! What shall we do?"]],
            "metadata": {"assistant_0": {"timestamp": "May 01, 2025 17:30"},
                         "user_1": {"timestamp": "May 01, 2025 17:31"},
                         "assistant_1": {"timestamp": "May 01, 2025 17:31", "model_name": model}}}


def write_textgen_json(path: Path, history: dict) -> Path:
    """modules/chat.py:1836 save_history."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(history, indent=4, ensure_ascii=False))
    return path
