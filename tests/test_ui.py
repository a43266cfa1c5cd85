"""The panel's handlers, built in a real Gradio Blocks and called as Gradio would call them."""

from __future__ import annotations

import gradio as gr

from session_manager.recorder import Recorder
from session_manager.ui import PageBinding, Panel


def build(recorder: Recorder) -> tuple[Panel, PageBinding]:
    with gr.Blocks() as app:
        binding = PageBinding(input_box=gr.Textbox(), output_box=gr.Textbox())
        panel = Panel(recorder)
        panel.quick_bar(binding)
        panel.manager(binding)
        panel.finish(app, binding)
    return panel, binding


def picker_values(panel: Panel, values: list) -> list:
    pickers = [view["picker"] for view in panel._views]
    return [value["value"] for component, value in zip(panel.view_outputs(), values, strict=True)
            if component in pickers]


def test_every_view_gets_a_value_in_order(recorder: Recorder) -> None:
    panel, _ = build(recorder)
    recorder.update_page(input_text="hello")
    cp = recorder.checkpoint()
    values = panel.refresh_outputs(selected=cp.id)
    assert len(values) == len(panel.view_outputs())
    assert picker_values(panel, values) == [cp.id, cp.id]


def test_a_background_refresh_keeps_the_users_selection(recorder: Recorder) -> None:
    panel, _ = build(recorder)
    recorder.update_page(input_text="first")
    first = recorder.checkpoint()
    recorder.update_page(input_text="second")
    second = recorder.checkpoint()
    recorder.update_page(input_text="typing on")
    recorder.autosave_tick()  # something changed in the background
    seen, *values = panel.tick(-1, first.id, None)
    assert seen == recorder.revision
    assert picker_values(panel, values) == [first.id, "autosave"]
    unchanged = panel.tick(seen, first.id, None)[1:]
    assert all(value == gr.update() for value in unchanged)
    assert second.id in {v for _, v in panel.refresh_outputs()[0]["choices"]}
