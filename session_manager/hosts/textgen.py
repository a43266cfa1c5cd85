"""Adapter to text-generation-webui (textgen): reads its shared state, wires its components.

Only this module imports textgen's ``modules``; script.py stays a thin shim around it.
"""

from __future__ import annotations

import html
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SessionManagerError
from ..models import ModelInfo
from ..recorder import KVSnapshotter, Recorder
from ..settings import SettingsManager, load_shipped
from ..store import SessionStore

# Interface elements that are the page's text, the chat, or pure UI: never saved as parameters.
NOT_PARAMS = {
    "textbox-default", "textbox-notebook", "output_textbox", "prompt_menu-default", "prompt_menu-notebook",
    "history", "textbox", "unique_id", "search_chat", "show_two_notebook_columns", "navigate_message_index",
    "navigate_direction", "navigate_message_role", "edit_message_index", "edit_message_text", "edit_message_role",
    "branch_index", "start_with",
}
SLOT_DIR_NAME = "kv-slots"


@dataclass
class PendingGeneration:
    """What input_modifier saw, for output_modifier to rebuild the exact page text."""

    prompt: str
    mode: str


@dataclass
class TextgenRuntime:
    recorder: Recorder
    host: TextgenHost
    root: Path
    disabled_reason: str | None = None
    pending: PendingGeneration | None = None


class TextgenHost:
    """The recorder's Host protocol over textgen's ``modules.shared``."""

    def __init__(self, slot_dir: Path) -> None:
        self.slot_dir = slot_dir
        self._backend: KVSnapshotter | None = None
        self._backend_key: tuple[Any, ...] | None = None

    def model_info(self) -> ModelInfo:
        from modules import loaders, shared

        loader = getattr(shared.args, "loader", None)
        names = loaders.loaders_and_params.get(loader or "", [])
        loader_settings = {n: _jsonable(getattr(shared.args, n)) for n in names if hasattr(shared.args, n)}
        name = shared.model_name if shared.model_name not in (None, "None", "") else None
        return ModelInfo(name=name, loader=loader, settings=loader_settings)

    def is_generating(self) -> bool:
        from modules import models

        return getattr(models, "active_generation_count", 0) > 0

    def kv_backend(self) -> KVSnapshotter | None:
        from modules import shared

        model = shared.model
        if model is None or model.__class__.__name__ != "LlamaServer":
            return None
        # A model reload makes a new server (new object, maybe a new port): read it afresh.
        key = (id(model), model.port)
        if self._backend is None or self._backend_key != key:
            self._backend = _llama_server_backend(model, shared.args, self.slot_dir)
            self._backend_key = key
        return self._backend

    def wait_until_idle(self, timeout: float = 60) -> None:
        """Until textgen's generation has ended and llama-server has dropped the cancelled task."""
        deadline = time.monotonic() + timeout
        while self.is_generating() and time.monotonic() < deadline:
            time.sleep(0.02)
        backend = self.kv_backend()
        if backend is not None and hasattr(backend, "wait_idle"):
            backend.wait_idle(max(1.0, deadline - time.monotonic()))

    def tokenize(self, text: str) -> list[int] | None:
        """Tokens exactly as textgen sends this text to llama-server (its add_bos_token setting)."""
        from modules import shared

        if shared.model is None or not hasattr(shared.model, "encode"):
            return None
        add_bos = bool(self.add_bos_token())
        return [int(t) for t in shared.model.encode(text, add_bos_token=add_bos)]

    def add_bos_token(self) -> bool:
        from modules import shared

        state = getattr(shared, "persistent_interface_state", None) or {}
        return state.get("add_bos_token", shared.settings.get("add_bos_token", True))

    def load_model(self, model: ModelInfo) -> str:
        from modules import models, shared

        for key, value in model.settings.items():
            if hasattr(shared.args, key) and key != "extra_flags":
                setattr(shared.args, key, value)
        if model.loader:
            shared.args.loader = model.loader
        models.unload_model()
        shared.model, shared.tokenizer = models.load_model(model.name, model.loader)
        if shared.model is None:
            return f"Could not load the checkpoint's model {model.name}."
        return f"Loaded the checkpoint's model {model.name}."


_active: TextgenRuntime | None = None  # survives textgen re-running setup() in a new script module


def start(params: dict[str, Any]) -> TextgenRuntime:
    """setup(): build the store and recorder, add the KV flags, auto-load, start the timer."""
    global _active
    from modules import shared
    from modules.logging_colors import logger

    if _active is not None:  # "Apply flags/extensions and restart": retire the previous timer first
        _active.recorder.stop_autosave()
        _active.recorder.wait_for_background()

    shipped = load_shipped()
    overrides = {k: v for k, v in params.items() if f"session_manager-{k}" in shared.settings}
    settings = SettingsManager(shipped, overrides)
    root = _store_root(settings.current.output_path)
    store = SessionStore(root)
    for warning in settings.attach_store(root):
        logger.warning(f"Session Manager: {warning}")
    slot_dir = root / SLOT_DIR_NAME
    slot_dir.mkdir(parents=True, exist_ok=True)
    _remove_slot_leftovers(slot_dir)
    host = TextgenHost(slot_dir)
    recorder = Recorder(store, settings, host)
    runtime = _active = TextgenRuntime(recorder=recorder, host=host, root=root)
    if getattr(shared.args, "multi_user", False):
        # One store for every visitor would show one user's work to another.
        runtime.disabled_reason = "Session Manager is off in multi-user mode (it would share sessions between users)."
        logger.warning(runtime.disabled_reason)
        return runtime
    _add_slot_flags(shared.args, slot_dir, settings.current.kv_swa_full)
    try:
        recorder.boot()
    except SessionManagerError as exc:
        logger.warning(f"Session Manager: auto-load failed: {exc}")
    notice = _reload_notice()
    if notice and settings.current.kv_reload_at_startup and settings.current.kv_snapshots != "never":
        notice = _reload_with_slot_flags()
    if notice:
        logger.info(f"Session Manager: {notice}")
        recorder.notify(f"{recorder.status.text} {notice}".strip())
    recorder.start_autosave()
    logger.info(f"Session Manager: sessions are stored in {root}")
    return runtime


def build_ui(runtime: TextgenRuntime) -> None:
    """ui(): the manager in our tab, the quick bar under the Default and Notebook inputs."""
    import gradio as gr
    from modules import shared, ui

    from ..ui import PageBinding, Panel

    if runtime.disabled_reason:
        gr.Markdown(runtime.disabled_reason)
        return
    g = shared.gradio
    model_elements = set(ui.list_model_elements())
    names = [n for n in shared.input_elements if n not in NOT_PARAMS and n not in model_elements and n in g]
    binding = PageBinding(
        input_box=g["textbox-default"], output_box=g["output_textbox"], notebook_box=g["textbox-notebook"],
        mode_inputs=[g["show_two_notebook_columns"]], mode_of=lambda two: "default" if two else "notebook",
        param_inputs=[g[n] for n in names],
        params_of=lambda *values: {n: _jsonable(v) for n, v in zip(names, values, strict=False)},
        params_to_updates=lambda params: [params[n] if n in params else gr.update() for n in names],
    )
    panel = Panel(runtime.recorder)
    panel.manager(binding)
    # Re-enter the columns that hold the two inputs, so the quick bar sits where people write.
    for anchor in (g["textbox-default"], g["textbox-notebook"]):
        column = _enclosing_column(anchor)
        if column is None:
            continue
        with column:
            panel.quick_bar(binding)
    panel.finish(shared.gradio["interface"], binding)


def on_input(runtime: TextgenRuntime, text: str, state: dict[str, Any], is_chat: bool) -> None:
    """input_modifier: remember the prompt of a page generation (not API, not logits)."""
    if runtime.disabled_reason or is_chat or not _is_page_generation():
        runtime.pending = None
        return
    mode = "default" if state.get("show_two_notebook_columns") else "notebook"
    runtime.pending = PendingGeneration(prompt=text, mode=mode)
    runtime.recorder.generation_started(text, mode)  # type: ignore[arg-type]


def on_output(runtime: TextgenRuntime, text: str, state: dict[str, Any], is_chat: bool) -> None:
    """output_modifier: fires once per generation, after Stop too, with the escaped continuation."""
    pending, runtime.pending = runtime.pending, None
    if pending is None or is_chat or not _is_page_generation():
        return
    # textgen shows html.unescape(prompt + escaped continuation): rebuild exactly that.
    full = html.unescape(pending.prompt + text)
    recorder = runtime.recorder
    recorder.update_page(mode=pending.mode)
    if pending.mode == "notebook":
        input_text, output_text = full, ""
    else:
        page_input = state.get("textbox-default")
        input_text, output_text = (page_input if isinstance(page_input, str) else pending.prompt), full
    # This hook runs inside the generation: the checkpoint and its KV snapshot wait until it ends.
    recorder.generation_finished(input_text, output_text, wait_until_idle=runtime.host.wait_until_idle)


def _is_page_generation() -> bool:
    """True inside textgen's UI generation (for_ui=True), False for API and logits calls."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "_generate_reply" and "for_ui" in frame.f_locals:
            return bool(frame.f_locals["for_ui"])
        frame = frame.f_back
    return False


def _llama_server_backend(model: Any, args: Any, slot_dir: Path) -> KVSnapshotter:
    """The backend for textgen's running llama-server, with the settings textgen started it with."""
    from ..kvstate.fingerprint import binary_id
    from ..kvstate.llama_server import LlamaServerBackend

    cache_type = getattr(args, "cache_type", "fp16") or "fp16"
    kv_type = "f16" if cache_type == "fp16" else cache_type
    # What the running server was really started with (textgen loads --model before our setup()).
    swa_full = "--swa-full" in _server_command(model)
    server_path = getattr(model, "server_path", None)
    return LlamaServerBackend(
        model.port, slot_dir, Path(model.model_path), flash_attn="on", cache_type_k=kv_type, cache_type_v=kv_type,
        swa_full=swa_full, slot=0 if int(getattr(args, "parallel", 1) or 1) == 1 else None,
        engine_id=binary_id(Path(server_path)) if server_path else "",
    )


def _store_root(output_path: str) -> Path:
    from modules import shared

    base = Path(getattr(shared, "user_data_dir", Path("user_data")))
    if output_path:
        path = Path(output_path).expanduser()
        return path if path.is_absolute() else base / path
    return base / "session_manager"


def _add_slot_flags(args: Any, slot_dir: Path, swa_full: bool) -> None:
    """llama-server saves slots only with --slot-save-path, which textgen never passes."""
    current = (getattr(args, "extra_flags", None) or "").strip().strip("'\"").strip()
    if "slot-save-path" in current:
        return
    if not current or current.startswith("-"):
        extra = f"--slot-save-path {shlex.quote(str(slot_dir))}" + (" --swa-full" if swa_full else "")
        args.extra_flags = f"{current} {extra}".strip()
    else:
        extra = f"slot-save-path={slot_dir}" + (",swa-full" if swa_full else "")
        args.extra_flags = f"{current},{extra}"


def _server_command(model: Any) -> list[str]:
    args = getattr(getattr(model, "process", None), "args", None)
    return [str(a) for a in args] if isinstance(args, (list, tuple)) else []


def _reload_notice() -> str | None:
    """Said at startup when the model was loaded before the slot flags were added."""
    from modules import shared

    model = shared.model
    if model is None or model.__class__.__name__ != "LlamaServer":
        return None
    if "--slot-save-path" in _server_command(model):
        return None
    return ("KV snapshots start after the next model load (Model tab → Load): the model was loaded before "
            "Session Manager could add --slot-save-path.")


def _reload_with_slot_flags() -> str | None:
    """Load the startup model again so its llama-server gets --slot-save-path; None when it worked."""
    from modules import models, shared
    from modules.logging_colors import logger

    name = shared.model_name
    logger.info(f"Session Manager: loading {name} once more so that its llama-server can save KV snapshots")
    try:
        models.unload_model()
        shared.model, shared.tokenizer = models.load_model(name)
    except Exception:
        logger.exception("Session Manager: the reload failed")
        return "The model could not be reloaded for KV snapshots; load it from the Model tab."
    return _reload_notice()


def _remove_slot_leftovers(slot_dir: Path) -> None:
    """State files a crash left in the slot folder are only ours, and only waste space."""
    from ..kvstate.llama_server import LlamaServerBackend

    LlamaServerBackend(0, slot_dir).remove_leftovers()


def _enclosing_column(component: Any) -> Any:
    import gradio as gr

    parent = getattr(component, "parent", None)
    while parent is not None and not isinstance(parent, gr.Column):
        parent = getattr(parent, "parent", None)
    return parent


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)
