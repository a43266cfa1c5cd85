"""Export and import in the manager tab."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from ..transfer import FORMATS
from .events import Renders, tab_of


@dataclass
class TransferBlock:
    fmt: gr.Radio
    export: gr.Button
    exported: gr.File
    upload: gr.File

    @classmethod
    def build(cls) -> TransferBlock:
        with gr.Accordion("Export / import", open=False):
            with gr.Row():
                fmt = gr.Radio(list(FORMATS), value="zip", label="Format (zip keeps KV snapshots)",
                               elem_classes="sm-export-format")
                export = gr.Button("Export session", elem_classes="sm-export")
                exported = gr.File(label="Exported file", interactive=False, elem_classes="sm-exported")
            upload = gr.File(label="Import a .zip or .json export", file_types=[".zip", ".json"], type="filepath",
                             elem_classes="sm-import")
        return cls(fmt, export, exported, upload)

    def wire(self, panel: Renders) -> None:
        workspace = panel.workspace

        def export(request: gr.Request, fmt: str) -> list[Any]:
            tab = tab_of(request)
            return [workspace.export(tab, fmt)] + panel.render(tab)

        self.export.click(export, [self.fmt], [self.exported, *panel.outputs()], queue=False)
        self.upload.upload(panel.handler(workspace.import_file), [self.upload], panel.outputs(), queue=False)
