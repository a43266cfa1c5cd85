"""Adapter to text-generation-webui (textgen): its setup, its page, its hooks.

Only this package imports textgen's ``modules``; script.py stays a thin shim around it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ...app.workspace import Workspace
from ...errors import SessionManagerError
from ...models import Mode
from ...recording.page_mirror import Page, PageContent, page_id
from ...recording.presents import Present
from ...recording.recorder import Recorder
from ...settings import SettingsManager, load_shipped
from ...store import SessionStore
from . import streams
from .admin import build_admin_view
from .api_cache import ApiPromptCache
from .chat_replies import ChatReplies, chat_frame
from .generations import Generations
from .host_adapter import TextgenHost, jsonable
from .multiuser import MultiUser, forget_closed_tabs, start_multi_user, wire_stops
from .prompts import PromptFiles, prompt_link
from .startup import add_slot_flags, reload_for_snapshots, remove_slot_leftovers

log = logging.getLogger("session_manager")
SLOT_DIR_NAME = "kv-slots"
NO_STREAM = ("Warning: this textgen version generates differently than Session Manager knows (no "
             "_generate_reply step): generations are not saved on stop. Autosave and checkpoints still work.")
API_OFF_FOR_MULTI_USER = ("the sessions API is off under --multi-user: textgen's one --api-key would open every "
                          "user's sessions to whoever holds it; use each user's page instead")
NO_CHAT_FRAME = ("Warning: this textgen version builds chat replies differently than Session Manager knows (no "
                 "chatbot_wrapper step): chat replies are not saved.")
# Interface elements that are the page's text, the chat, or pure UI: never saved as parameters.
NOT_PARAMS = {
    "textbox-default", "textbox-notebook", "output_textbox", "prompt_menu-default", "prompt_menu-notebook",
    "history", "textbox", "unique_id", "search_chat", "show_two_notebook_columns", "navigate_message_index",
    "navigate_direction", "navigate_message_role", "edit_message_index", "edit_message_text", "edit_message_role",
    "branch_index", "start_with", "filter_by_loader", "loader",
}


@dataclass
class TextgenRuntime:
    recorder: Recorder | None = None
    generations: Generations | None = None
    chats: ChatReplies | None = None
    root: Path | None = None
    disabled_reason: str | None = None
    notice: str | None = None  # said at startup (KV snapshots need a model reload)
    api_cache: ApiPromptCache | None = None
    warned: set[str] = field(default_factory=set)
    multi: MultiUser | None = None  # --multi-user with logins: one runtime per login (``users``)
    login: str | None = None  # the login whose runtime this is

    @cached_property
    def workspace(self) -> Workspace:
        assert self.recorder is not None
        return Workspace(self.recorder)

    def warn_once(self, page: Page, message: str) -> None:
        if message not in self.warned:
            self.warned.add(message)
            log.warning(message)
        page.warn(message)


_active: TextgenRuntime | None = None  # survives textgen re-running setup() in a new script module


def start(params: dict[str, Any]) -> TextgenRuntime:
    """setup(): the store, the recorder and its timer, the KV flags for llama-server."""
    global _active
    from modules import shared

    _log_through_textgen()
    if _active is not None:  # "Apply flags/extensions and restart"
        users = [user for _, user in _active.multi.users] if _active.multi is not None else []
        for runtime in [_active, *users]:
            if runtime.recorder is not None:
                runtime.recorder.stop()
    overrides = {k: v for k, v in params.items() if f"session_manager-{k}" in shared.settings}
    settings = SettingsManager(load_shipped(), overrides)
    root = _store_root(settings.current.output_path)
    streams.install(started=on_stream)  # without it, on_input says once that generations are not saved on stop
    if getattr(shared.args, "multi_user", False):
        _active = start_multi_user(settings, root, overrides, SLOT_DIR_NAME)
        _serve_api(off=API_OFF_FOR_MULTI_USER)
        return _active
    store = SessionStore(root)
    why = store.upkeep.watch()  # outside changes (an editor, a sync tool) show within seconds
    if why:
        log.info(f"Session Manager: {why}; changes made by other programs are found by comparing folder times")
    for warning in settings.attach_store(root):
        log.warning(f"Session Manager: {warning}")
    host = TextgenHost(PromptFiles(Path(shared.user_data_dir)))
    recorder = Recorder(store, settings, host)
    host.recorder = recorder
    runtime = _active = TextgenRuntime(recorder, Generations(recorder, host), ChatReplies(recorder, host), root,
                                       api_cache=ApiPromptCache(root, settings, host))
    slot_dir = root / SLOT_DIR_NAME
    remove_slot_leftovers(slot_dir)
    add_slot_flags(shared.args, slot_dir, settings.current.kv_swa_full)
    if getattr(shared, "original_args", None) is not None:  # an API model load resets the flags to these
        add_slot_flags(shared.original_args, slot_dir, settings.current.kv_swa_full)
    runtime.notice = reload_for_snapshots(settings.current)
    recorder.start()
    log.info(f"Session Manager: sessions are stored in {root}")
    _serve_api()
    return runtime


def build_ui(runtime: TextgenRuntime) -> None:
    """ui(): the manager in our tab, the quick bar under the Default and Notebook inputs."""
    import gradio as gr

    from .interface import build_interface

    if runtime.multi is not None:
        from ...app.routing import RoutedWorkspace

        multi = runtime.multi
        build_interface(RoutedWorkspace(multi.current_workspace, multi.defaults), NOT_PARAMS)  # type: ignore[arg-type]  # routes each call to a user's Workspace
        wire_stops(multi)
        forget_closed_tabs(multi)
        if not multi.per_tab:
            build_admin_view(multi)
        return
    if runtime.disabled_reason or runtime.recorder is None:
        gr.Markdown(runtime.disabled_reason or "Session Manager did not start; see textgen's log.")
        return
    recorder = runtime.recorder
    host: TextgenHost = recorder.host  # type: ignore[assignment]  # start() built it over a TextgenHost
    try:
        present = host.prompts.present_at_start(recorder.store, recorder.settings.current.auto_load)
    except SessionManagerError as exc:
        log.warning(f"Session Manager: auto-load failed: {exc}")
    else:
        status = f"{present.status} {runtime.notice}" if runtime.notice else present.status
        recorder.presents["text"] = Present(present.session_id, present.content, present.link, status)
    recorder.presents["chat"] = host.chat_at_start()
    build_interface(runtime.workspace, NOT_PARAMS)


def on_input(active: TextgenRuntime, text: str, state: dict[str, Any], is_chat: bool) -> None:
    """input_modifier: a page generation starts (logits and chat calls are left alone; API calls only meet the
    prompt cache)."""
    runtime = for_user(active, reads_engine=not is_chat)  # this page's user's (itself without --multi-user)
    if runtime is None or runtime.recorder is None or runtime.generations is None:
        return
    if _api_request(runtime, text, state, is_chat) or is_chat:
        return
    stream = streams.current()
    page = runtime.recorder.page(page_id(current_tab(), "text"))
    if stream is None:
        runtime.warn_once(page, NO_STREAM)
        return
    if not stream.for_ui:
        return
    if runtime.api_cache is not None:
        runtime.api_cache.forget()
    two_columns = bool(state.get("show_two_notebook_columns"))
    mode: Mode = "default" if two_columns else "notebook"
    runtime.workspace.follow(current_tab(), "text", prompt_link(state.get(f"prompt_menu-{mode}")))
    page_input = state.get("textbox-default") if two_columns else stream.question
    start = PageContent(mode, page_input if isinstance(page_input, str) else stream.question, "", None,
                        params_of(state))
    runtime.recorder.generation_started(page, stream.question, mode)
    runtime.generations.start(page, start, stream)


def on_output(active: TextgenRuntime, text: str, state: dict[str, Any], is_chat: bool) -> None:
    """output_modifier: fires once per generation, after Stop too, with the escaped continuation."""
    runtime = for_user(active)  # this page's user's (itself without --multi-user)
    if runtime is None or runtime.generations is None or runtime.chats is None:
        return
    if is_chat:
        frame = chat_frame()
        if frame is not None:
            runtime.chats.finish(frame)
        return
    stream = streams.current()
    if stream is not None:
        runtime.generations.finish(stream, text)


def on_chat_start(active: TextgenRuntime, history: dict[str, Any]) -> None:
    """history_modifier: textgen's chatbot_wrapper starts a reply, which it writes into ``history``."""
    runtime = for_user(active, reads_engine=True)  # this page's user's (itself without --multi-user)
    if runtime is None or runtime.chats is None or runtime.recorder is None:
        return
    frame = chat_frame()
    if frame is None:
        runtime.warn_once(runtime.recorder.page(page_id(current_tab(), "chat")), NO_CHAT_FRAME)
        return
    if frame.f_locals.get("for_ui") and runtime.api_cache is not None:
        runtime.api_cache.forget()
    runtime.chats.start(current_tab(), frame, history)


def on_stream(stream: streams.Stream) -> None:
    """textgen's _generate_reply begins, on the thread of its caller: a page chat reply's generation (the prompt
    the engine reads, the reply it writes) goes to that reply."""
    if _active is None or not (stream.is_chat and stream.for_ui):
        return
    runtime = for_user(_active)  # this page's user's (itself without --multi-user)
    frame = chat_frame()
    if runtime is not None and runtime.chats is not None and frame is not None:
        runtime.chats.streaming(frame, stream)


def _api_request(runtime: TextgenRuntime, text: str, state: dict[str, Any], is_chat: bool) -> bool:
    """An API request: its prompt meets the prompt cache, and nothing of it is recorded."""
    if runtime.api_cache is None:
        return False
    try:
        found = runtime.api_cache.on_input(text, state, is_chat)
    except Exception:  # the cache only saves time: the request goes on without it
        log.exception("Session Manager: the prompt cache step failed")
        return True
    if found and runtime.recorder is not None:
        runtime.recorder.kv.holds(None)  # the engine's cache is no session's now
    return found


def report_failure(runtime: TextgenRuntime | None, exc: Exception) -> None:
    runtime = for_user(runtime) if runtime is not None else None
    if runtime is not None and runtime.recorder is not None:
        page = runtime.recorder.pages.active(current_tab()) or runtime.recorder.page(None)
        page.notify(f"Warning: Session Manager could not save: {exc}")


def for_user(runtime: TextgenRuntime, reads_engine: bool = False) -> TextgenRuntime | None:
    """The runtime of the user whose page runs this hook (itself without --multi-user); None for an API call.

    ``reads_engine``: a generation is about to start; the shared engine's cache becomes that user's text.
    """
    multi = runtime.multi
    if multi is None:
        return runtime
    mine = multi.current()
    if reads_engine:
        multi.turns.read_by(mine.login if mine is not None else None)
    return mine


def current_tab() -> str | None:
    """The browser tab whose event runs this code (Gradio keeps the request of the running event)."""
    try:
        from gradio.context import LocalContext
    except ImportError:
        return None
    request = LocalContext.request.get()
    return getattr(request, "session_hash", None) or None


def params_of(state: dict[str, Any]) -> dict[str, Any]:
    """The generation parameters of textgen's interface state (not the text, not the chat, not the model)."""
    from .interface import param_names

    return {name: jsonable(state[name]) for name in param_names(NOT_PARAMS) if name in state}


def _serve_api(off: str | None = None) -> None:
    """With --api, the sessions API on textgen's API port (or, ``off``, routes that say why it is off); a
    failure there never stops the rest."""
    try:
        from .api_mount import mount_api, mount_off  # FastAPI is loaded only here

        if off is not None:
            mount_off(off)
        else:
            mount_api(lambda: _active.recorder if _active is not None else None)
    except Exception:
        log.exception("Session Manager: the sessions API could not be added to textgen's API")


def _log_through_textgen() -> None:
    """Our messages go to textgen's console and log file, as textgen's own do."""
    from modules.logging_colors import logger

    log.handlers = list(logger.handlers)
    log.setLevel(logging.INFO)
    log.propagate = not log.handlers


def _store_root(output_path: str) -> Path:
    from modules import shared

    base = Path(getattr(shared, "user_data_dir", Path("user_data")))
    if output_path:
        path = Path(output_path).expanduser()
        return path if path.is_absolute() else base / path
    return base / "session_manager"
