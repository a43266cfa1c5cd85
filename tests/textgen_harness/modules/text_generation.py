"""text_generation.py's shape (commit 1dcde41): generate_reply counts the generation as active and calls
_generate_reply by name, which runs the input hook, streams the reply and runs the output hook (after Stop
too). The tokens come from the state (textgen_calls puts them there): this harness has no model."""

from __future__ import annotations

import html
from collections.abc import Iterator

ENGINE = "_harness_engine"  # state key: (extension, tokens, stop_after)


def generate_reply(*args, **kwargs) -> Iterator[str]:
    from modules import models

    models.active_generation_count += 1
    try:
        yield from _generate_reply(*args, **kwargs)
    finally:
        models.active_generation_count -= 1


def _generate_reply(question, state, stopping_strings=None, is_chat=False, escape_html=False,
                    for_ui=False) -> Iterator[str]:
    from textgen_harness.textgen_calls import apply_string_extension

    extension, tokens, stop_after = state[ENGINE]
    if not is_chat:
        question = apply_string_extension(extension, "input_modifier", question, state)
    raw = reply = ""
    for i, token in enumerate(tokens):
        raw += token
        reply = html.escape(raw) if escape_html else raw
        yield reply
        if stop_after is not None and i + 1 >= stop_after:  # shared.stop_everything was set
            break
    if not is_chat:
        reply = apply_string_extension(extension, "output_modifier", reply, state)
    yield reply
