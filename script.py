"""textgen entry point: a thin shim that hands every hook to session_manager.hosts.textgen.

textgen may load this file from user_data/extensions/session_manager/ as a module without
a parent package, so the folder is put on sys.path instead of relying on relative imports.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

from session_manager import ui as _ui  # noqa: E402
from session_manager.hosts import textgen as _textgen  # noqa: E402
from session_manager.settings import load_shipped  # noqa: E402

# textgen applies `session_manager-<key>` from settings.yaml to these before setup().
params: dict[str, Any] = load_shipped()

_runtime: _textgen.TextgenRuntime | None = None


def setup() -> None:
    global _runtime
    try:
        _runtime = _textgen.start(params)
    except Exception:  # never take textgen down with us
        from modules.logging_colors import logger

        logger.exception("Session Manager could not start")


def ui() -> None:
    if _runtime is not None:
        _textgen.build_ui(_runtime)


def input_modifier(string: str, state: dict, is_chat: bool = False) -> str:
    _safely(_textgen.on_input, string, state, is_chat)
    return string


def output_modifier(string: str, state: dict, is_chat: bool = False) -> str:
    _safely(_textgen.on_output, string, state, is_chat)
    return string


def history_modifier(history: dict) -> dict:
    _safely(_textgen.on_chat_start, history)
    return history


def custom_css() -> str:
    from session_manager.hosts.textgen.interface import CSS

    return _ui.CSS + CSS


def custom_js() -> str:
    return _ui.JS


def _safely(hook: Any, *args: Any) -> None:
    """A failure here is logged and shown in the panel; the generation always goes on."""
    if _runtime is None:
        return
    try:
        hook(_runtime, *args)
    except Exception as exc:
        from modules.logging_colors import logger

        logger.exception("Session Manager: a hook failed")
        _textgen.report_failure(_runtime, exc)
