"""textgen's way of calling extension hooks, as in modules/extensions.py and modules/text_generation.py
(commit 1dcde41d03d13fc768316f4d2256a8a6dd044268): same signature inspection, same order, same escaping;
generate_reply is modules/text_generation.py's.

The real textgen runs in tests/textgen/; this keeps the hook logic testable in milliseconds, including
what is hard to time in a real server (a generation that stays open after its output hook, or is cut short).
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from inspect import signature
from typing import Any


def apply_string_extension(extension: Any, function_name: str, text: str, state: dict, is_chat: bool = False) -> str:
    """extensions._apply_string_extensions for one extension."""
    func = getattr(extension, function_name, None)
    if func is None:
        return text
    count, has_chat = 0, False
    for k in signature(func).parameters:
        if k == "is_chat":
            has_chat = True
        else:
            count += 1
    args = [text, state] if count == 2 else [text]
    kwargs = {"is_chat": is_chat} if has_chat else {}
    return func(*args, **kwargs)


def generate_reply(extension: Any, question: str, state: dict, continuation_tokens: list[str],
                   stop_after: int | None = None, is_chat: bool = False, escape_html: bool = False,
                   for_ui: bool = False) -> Iterator[str]:
    """text_generation.generate_reply (modules/text_generation.py here), the model writing ``continuation_tokens``
    (Stop after ``stop_after`` of them)."""
    from modules import text_generation

    engine_state = {**state, text_generation.ENGINE: (extension, continuation_tokens, stop_after)}
    return text_generation.generate_reply(question, engine_state, None, is_chat=is_chat, escape_html=escape_html,
                                          for_ui=for_ui)


def page_generation(extension: Any, question: str, state: dict, tokens: list[str],
                    stop_after: int | None = None) -> Iterator[str]:
    """generate_reply_wrapper, the Default/Notebook UI path: what the page shows after each step."""
    for reply in generate_reply(extension, question, state, tokens, stop_after, escape_html=True, for_ui=True):
        yield html.unescape(question + reply)


def generate_reply_wrapper(extension: Any, question: str, state: dict, tokens: list[str],
                           stop_after: int | None = None) -> str:
    """A whole page generation, as Gradio runs it: the text shown last."""
    shown = [question, *page_generation(extension, question, state, tokens, stop_after)]
    return shown[-1]


def api_completion(extension: Any, prompt: str, state: dict, tokens: list[str]) -> str:
    """The API and the logits tab: generate_reply(prompt, state) with for_ui left False."""
    out = ""
    for reply in generate_reply(extension, prompt, state, tokens):
        out = reply
    return out


def chatbot_wrapper(extension: Any, text: str, state: dict, reply_tokens: list[str], regenerate: bool = False,
                    _continue: bool = False, stop_after: int | None = None, for_ui: bool = False) -> Iterator[dict]:
    """chat.chatbot_wrapper: history hook first (textgen writes the reply into the object it returns), the
    prompt built, the reply streamed by generate_reply, the output hook last (after Stop too); the final history
    is yielded once more."""
    import copy

    output = copy.deepcopy(state["history"])
    apply_history = getattr(extension, "history_modifier", None)
    if apply_history is not None:
        output = apply_history(output)
    if not (regenerate or _continue):
        output["internal"].append([text, ""])
        output["visible"].append([html.escape(text), ""])
    else:
        text = output["internal"][-1][0]
    previous = output["internal"][-1][1] if _continue else ""
    prompt = "".join(f"<user>{u}<bot>{b}" for u, b in output["internal"][:-1]) + f"<user>{text}<bot>{previous}"
    # As textgen: the generation is no local of this frame, so closing this generator ends it.
    for i, reply in enumerate(generate_reply(extension, prompt, state, reply_tokens, is_chat=True, for_ui=for_ui)):
        output["internal"][-1] = [text, previous + reply]
        output["visible"][-1] = [html.escape(text), html.escape(previous + reply)]
        yield output
        if stop_after is not None and i + 1 >= stop_after:
            break
    output["visible"][-1][1] = apply_string_extension(extension, "output_modifier", output["visible"][-1][1], state,
                                                      is_chat=True)
    yield output


def chat_reply(extension: Any, text: str, state: dict, reply_tokens: list[str], **kwargs: Any) -> dict:
    """generate_chat_reply_wrapper: the whole reply as the UI runs it; the history it ends with."""
    history = state["history"]
    for history in chatbot_wrapper(extension, text, state, reply_tokens, for_ui=True, **kwargs):  # noqa: B007
        pass
    state["history"] = history
    return history
