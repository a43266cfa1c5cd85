"""Export and import in the manager tab."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ..choices import FORMATS
from .events import Renders, tab_of

EXPORT_CHOICES = (*FORMATS, "html")


@dataclass
class TransferBlock:
    fmt: gr.Radio
    export: gr.Button
    exported: gr.File
    upload: gr.File
    host_work: gr.Button | None  # "Import textgen's saved work", where the host keeps any
    host_folder: Path | None

    @classmethod
    def build(cls, host_folder: Path | None = None) -> TransferBlock:
        with gr.Accordion("Export / import", open=False):
            with gr.Row():
                fmt = gr.Radio(list(EXPORT_CHOICES), value="zip", label="Format (zip keeps KV snapshots)",
                               elem_classes="sm-export-format")
                export = gr.Button("Export session", elem_classes="sm-export")
                exported = gr.File(label="Exported file", interactive=False, elem_classes="sm-exported")
            upload = gr.File(label="Import a file: this tool's zip or json, the original session_manager's, a "
                             "SillyTavern or Open WebUI chat, a training JSONL", type="filepath",
                             elem_classes="sm-import")
            host_work = None if host_folder is None else \
                gr.Button("Import textgen's saved work (its prompts and chats)", elem_classes="sm-import-host")
        return cls(fmt, export, exported, upload, host_work, host_folder)

    def wire(self, panel: Renders) -> None:
        workspace = panel.workspace

        def export(request: gr.Request, fmt: str) -> list[Any]:
            tab = tab_of(request)
            return [workspace.exchange.export(tab, fmt)] + panel.render(tab)

        self.export.click(export, [self.fmt], [self.exported, *panel.outputs()], queue=False)
        self.upload.upload(panel.handler(workspace.exchange.import_file), [self.upload], panel.outputs(), queue=False)
        if self.host_work is not None:
            folder = str(self.host_folder)
            self.host_work.click(panel.handler(lambda tab: workspace.exchange.import_file(tab, folder)), None,
                                 panel.outputs(), queue=False)
