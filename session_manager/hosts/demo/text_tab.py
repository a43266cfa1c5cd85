"""The demo's Notebook tab: textgen's Default (two columns: input, output) and Notebook (one box) views,
with the panel's quick bar under each, generating for real and saving however a generation ends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from ...models import GenerationStats, Mode
from ...recording.page_mirror import Page, PageContent, page_id
from ...recording.recorder import Recorder
from ...ui import PageBinding, tab_of

if TYPE_CHECKING:
    from .app import DemoHost


@dataclass(frozen=True)
class TextViews:
    """The components of the Default and Notebook views."""

    two_columns: gr.Checkbox
    default_view: gr.Row
    input_box: gr.Textbox
    output_box: gr.Textbox
    continue_button: gr.Button
    stop_button: gr.Button
    generate_button: gr.Button
    quick_default: gr.Column
    notebook_view: gr.Row
    notebook_box: gr.Textbox
    notebook_stop: gr.Button
    notebook_generate: gr.Button
    quick_notebook: gr.Column

    def binding(self, params: dict[str, Any]) -> PageBinding:
        return PageBinding(input_box=self.input_box, output_box=self.output_box, notebook_box=self.notebook_box,
                           mode_inputs=[self.two_columns], mode_of=lambda two: "default" if two else "notebook",
                           mode_values=lambda mode: [mode != "notebook"], params=params)


def build_text_tab() -> TextViews:
    with gr.Tab("Notebook"):
        two_columns = gr.Checkbox(label="Two columns (Default view)", value=True, elem_id="sm-two-columns")
        with gr.Row(visible=True, elem_id="default-view") as default_view:
            with gr.Column():
                input_box = gr.Textbox(label="Input", lines=16, elem_id="textbox-default")
                with gr.Row():
                    continue_button = gr.Button("Continue", elem_id="continue-default")
                    stop_button = gr.Button("Stop", elem_id="stop-default")
                    generate_button = gr.Button("Generate", variant="primary", elem_id="generate-default")
            with gr.Column():
                output_box = gr.Textbox(label="Output", lines=16, elem_id="output-textbox")
        quick_default = gr.Column()  # full width, so checkpoint labels fit (filled by the panel)
        with gr.Row(visible=False, elem_id="notebook-view") as notebook_view, gr.Column():
            notebook_box = gr.Textbox(label="Notebook", lines=16, elem_id="textbox-notebook")
            with gr.Row():
                notebook_stop = gr.Button("Stop", elem_id="stop-notebook")
                notebook_generate = gr.Button("Generate", variant="primary", elem_id="generate-notebook")
            quick_notebook = gr.Column()
    two_columns.change(lambda two: (gr.update(visible=two), gr.update(visible=two), gr.update(visible=not two)),
                       [two_columns], [default_view, quick_default, notebook_view], queue=False)
    return TextViews(two_columns, default_view, input_box, output_box, continue_button, stop_button,
                     generate_button, quick_default, notebook_view, notebook_box, notebook_stop, notebook_generate,
                     quick_notebook)


def wire_text_tab(views: TextViews, host: DemoHost, recorder: Recorder, params: dict[str, Any]) -> None:
    """Generate, Continue and Stop: the model writes into the page, and its end is saved."""

    def streamed(page: Page, mode: Mode, prompt: str, values: tuple[Any, ...], page_input: str) -> Iterator[str]:
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
            content = PageContent.generated(mode, page_input, output, chosen)
            stats = GenerationStats(new_tokens=pieces, seconds=round(time.monotonic() - started, 3))
            recorder.generation_finished(page, content, stats=stats)

    def started(request: gr.Request, text: str, mode: Mode) -> Page:
        page = recorder.page(page_id(tab_of(request), "text"))
        recorder.generation_started(page, text, mode)
        return page

    def generate_default(request: gr.Request, prompt: str, *values: Any) -> Iterator[str]:
        yield from streamed(started(request, prompt, "default"), "default", prompt, values, prompt)

    def continue_default(request: gr.Request, current_input: str, text: str, *values: Any) -> Iterator[str]:
        yield from streamed(started(request, text, "default"), "default", text, values, current_input)

    def generate_notebook(request: gr.Request, text: str, *values: Any) -> Iterator[str]:
        yield from streamed(started(request, text, "notebook"), "notebook", text, values, text)

    param_components = list(params.values())
    views.generate_button.click(generate_default, [views.input_box, *param_components], [views.output_box],
                                show_progress="hidden")
    views.continue_button.click(continue_default, [views.input_box, views.output_box, *param_components],
                                [views.output_box], show_progress="hidden")
    views.notebook_generate.click(generate_notebook, [views.notebook_box, *param_components], [views.notebook_box],
                                  show_progress="hidden")
    for button in (views.stop_button, views.notebook_stop):
        button.click(lambda: host.stop_event.set(), None, None, queue=False)
