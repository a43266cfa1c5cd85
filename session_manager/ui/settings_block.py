"""The settings accordion: each change is saved at once; a setting textgen's settings.yaml pins is shown
as pinned and cannot be changed here (the pin would win at the next start anyway)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from ..app.workspace import Workspace

PINNED = " (pinned by settings.yaml)"


def build_settings(workspace: Workspace) -> None:
    s = workspace.settings.current
    pinned = workspace.settings.pinned_by_host

    def options(key: str, label: str, **extra: Any) -> dict[str, Any]:
        classes = [f"sm-setting-{key}"] + (["sm-pinned"] if pinned(key) else []) + extra.pop("classes", [])
        return {"label": label + (PINNED if pinned(key) else ""), "interactive": not pinned(key),
                "elem_classes": classes, **extra}

    with gr.Accordion("Settings", open=False):
        with gr.Row():
            autosave = gr.Checkbox(value=s.autosave, **options("autosave", "Autosave", classes=["sm-autosave"]))
            interval = gr.Slider(5, 900, value=s.autosave_interval, step=5, **options(
                "autosave_interval", "Autosave every (seconds)", classes=["sm-interval"]))
            save_on_stop = gr.Checkbox(value=s.save_on_stop, **options("save_on_stop", "Checkpoint on every Stop"))
            auto_session = gr.Checkbox(value=s.auto_session,
                                       **options("auto_session", "New session when the prompt changes"))
        with gr.Row():
            auto_load = gr.Radio(["last", "newest", "off"], value=s.auto_load,
                                 **options("auto_load", "Load at startup"))
            template = gr.Textbox(value=s.name_template, **options(
                "name_template", "Name for new sessions ({date} {time} {words} {mode})"))
            kv_policy = gr.Radio(["always", "manual", "never"], value=s.kv_snapshots, **options(
                "kv_snapshots", "KV snapshots (always = manual + on Stop)"))
            kv_budget = gr.Number(value=s.kv_budget_mb, precision=0, minimum=0,
                                  **options("kv_budget_mb", "KV budget (MB)"))
            prompt_cache = gr.Number(value=s.prompt_cache_mb, precision=0, minimum=0,
                                     **options("prompt_cache_mb", "API prompt cache (MB, 0 = off)"))
        note = gr.Markdown("", elem_classes="sm-settings-note")
    for component, key in ((autosave, "autosave"), (interval, "autosave_interval"), (save_on_stop, "save_on_stop"),
                           (auto_session, "auto_session"), (auto_load, "auto_load"), (template, "name_template"),
                           (kv_policy, "kv_snapshots"), (kv_budget, "kv_budget_mb"),
                           (prompt_cache, "prompt_cache_mb")):
        event = component.release if isinstance(component, gr.Slider) else component.input
        event(_changer(workspace, key), [component], [note], queue=False, show_progress="hidden")


def _changer(workspace: Workspace, key: str) -> Callable[[Any], str]:
    def change(value: Any) -> str:
        return workspace.set_setting(key, value)
    return change
