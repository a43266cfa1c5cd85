"""The recorder's Host protocol over textgen's ``modules.shared``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ...kvstate import KVBackend
from ...kvstate.fingerprint import binary_id
from ...kvstate.llama_server import LlamaServerBackend, ServerFlags
from ...models import Checkpoint, HostLink, ModelInfo
from ...recording.page_mirror import Page, view_of
from ...recording.presents import Present
from ...recording.recorder import Recorder
from .prompts import PromptFiles


def running_server() -> Any:
    """textgen's llama-server (its LlamaServer object), or None when another loader or no model runs."""
    from modules import shared

    model = shared.model
    return model if model is not None and model.__class__.__name__ == "LlamaServer" else None


def server_command(model: Any) -> list[str]:
    args = getattr(getattr(model, "process", None), "args", None)
    return [str(a) for a in args] if isinstance(args, (list, tuple)) else []


class TextgenHost:
    def __init__(self, prompts: PromptFiles) -> None:
        self.prompts = prompts
        self.recorder: Recorder | None = None  # set once the recorder exists (warm starts use it)
        self._backend: KVBackend | None = None
        self._backend_key: tuple[Any, ...] | None = None
        self._request_bos = threading.local()  # add_bos_token of the request being saved in this thread

    def model_info(self) -> ModelInfo:
        from modules import loaders, shared

        loader = getattr(shared.args, "loader", None)
        names = loaders.loaders_and_params.get(loader or "", [])
        settings = {n: jsonable(getattr(shared.args, n)) for n in names if hasattr(shared.args, n)}
        name = shared.model_name if shared.model_name not in (None, "None", "") else None
        return ModelInfo(name=name, loader=loader, settings=settings)

    def is_generating(self) -> bool:
        from modules import models

        return getattr(models, "active_generation_count", 0) > 0

    def kv_backend(self) -> KVBackend | None:
        model = running_server()
        if model is None:
            return None
        # A model reload makes a new server (new object, maybe a new port): read it afresh.
        key = (id(model), model.port)
        if self._backend is None or self._backend_key != key:
            server_path = getattr(model, "server_path", None)
            self._backend = LlamaServerBackend(model.port, ServerFlags.from_command(server_command(model)),
                                               engine_id=binary_id(Path(server_path)) if server_path else "")
            self._backend_key = key
        return self._backend

    def no_kv_reason(self) -> str:
        """Only textgen's llama.cpp loader runs an engine (llama-server) that can save and load its KV cache."""
        from modules import shared

        if shared.model is None or running_server() is not None:  # no model: nothing was generated to keep
            return ""
        loader = getattr(shared.args, "loader", None) or "this"
        return (f"textgen's {loader} loader gives no way to save its KV cache; KV snapshots need the llama.cpp "
                "loader. Text, parameters and model are saved")

    def wait_until_idle(self, timeout: float = 60) -> None:
        """Until textgen's generations have ended and llama-server has dropped the cancelled task."""
        deadline = time.monotonic() + timeout
        while self.is_generating() and time.monotonic() < deadline:
            time.sleep(0.02)
        backend = self.kv_backend()
        if backend is not None:
            backend.wait_idle(max(1.0, deadline - time.monotonic()))

    def tokenize(self, text: str) -> list[int] | None:
        """Tokens exactly as textgen sends this text to llama-server (its add_bos_token setting)."""
        from modules import shared

        if shared.model is None or not hasattr(shared.model, "encode"):
            return None
        return [int(t) for t in shared.model.encode(text, add_bos_token=self.add_bos_token())]

    def add_bos_token(self) -> bool:
        from modules import shared

        forced = getattr(self._request_bos, "value", None)
        if forced is not None:
            return bool(forced)

        state = getattr(shared, "persistent_interface_state", None) or {}
        return bool(state.get("add_bos_token", shared.settings.get("add_bos_token", True)))

    @contextmanager
    def tokenizing_as(self, state: dict[str, Any]) -> Iterator[None]:
        """Tokenize as textgen did for this request: in the instruct modes a chat reply's state says no BOS
        (the template writes its own), whatever the page's settings say."""
        self._request_bos.value = state.get("add_bos_token")
        try:
            yield
        finally:
            self._request_bos.value = None

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
        return (f"Loaded the checkpoint's model {model.name} (textgen's Model tab still lists the model chosen "
                "there).")

    def page_restored(self, page: Page, checkpoint: Checkpoint) -> None:
        """Write through textgen's own saved state, so that textgen shows the same page after a restart."""
        if checkpoint.mode == "chat":
            write_chat_through(checkpoint, page.link)
        else:
            self.prompts.write_through(page, checkpoint)

    def session_opened(self, page: Page) -> None:
        """A chat was opened: load its newest KV snapshot in the background, so its next reply starts at once."""
        if view_of(page.tab_id) == "chat" and page.session_id is not None and self.recorder is not None:
            threading.Thread(target=self._warm, args=(page.session_id,), name="session-manager-warm",
                             daemon=True).start()

    def _warm(self, session_id: str) -> None:
        """The chat as it stands is its session's latest state (a rewind is one): warm the engine for that."""
        assert self.recorder is not None
        latest = self.recorder.store.latest_state(session_id)
        self.recorder.kv.warm(session_id, latest.history if latest is not None else None)

    def loadable_texts(self, view: str, link: HostLink | None) -> set[str]:
        """What textgen may put into a page at load or on a prompt switch: its page state and the prompt's file."""
        if view != "text":
            return set()
        from modules import shared

        state = getattr(shared, "persistent_interface_state", None) or {}
        texts = {state.get(key) for key in ("textbox-default", "output_textbox", "textbox-notebook")}
        name = link.name if link is not None else shared.settings.get("prompt-notebook")
        saved = self.prompts.read(name) if name else None
        texts |= {saved[0]} if saved else set()
        return {text for text in texts if isinstance(text, str)}

    def saved_work_folder(self) -> Path:
        return self.prompts.folder.parent.parent  # user_data: its logs/notebook and logs/chat

    def chat_at_start(self) -> Present:
        """A chat page starts empty: textgen loads its last chat at page load, and the page follows it."""
        return Present(status="Following textgen's chat; every reply is saved.")


def write_chat_through(checkpoint: Checkpoint, link: HostLink | None) -> None:
    """textgen's own history file of the chat, and its page state, now hold the restored history."""
    from modules import chat, shared

    context = checkpoint.chat
    unique_id = context.unique_id if context is not None and context.unique_id else link.name if link else None
    if context is None or not unique_id or checkpoint.history is None:
        return
    if not all(_plain_name(name) for name in (unique_id, context.character or "_")):
        return  # textgen makes a path of them: an imported or sent name with a folder in it writes nothing
    chat.save_history(checkpoint.history, unique_id, context.character, context.chat_mode)
    state = getattr(shared, "persistent_interface_state", None)
    if isinstance(state, dict) and state.get("unique_id") == unique_id:
        state["history"] = checkpoint.history


def _plain_name(name: str) -> bool:
    return name not in ("", ".", "..") and not any(ch in name for ch in "/\\:\0")


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)
