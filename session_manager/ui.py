"""The Gradio panel: a quick bar where people write, and the full manager in its own tab.

Uses only the stock Gradio 4.37.2 API, so it runs in textgen (on its Gradio fork) and in
the demo host alike. Talks to the Recorder and the store, never to files.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from .errors import SessionManagerError
from .models import Checkpoint
from .recorder import PageState, Recorder
from .transfer import FORMATS, export_session, import_file
from .view import AUTOSAVE_CHOICE, checkpoint_choices, kv_summary, session_choices

TICK_SECONDS = 3


@dataclass
class PageBinding:
    """How the panel reaches the host's page: its text boxes and its parameter components."""

    input_box: gr.Textbox
    output_box: gr.Textbox
    notebook_box: gr.Textbox | None = None
    # Components whose values say which view is shown (and anything else mode_of needs).
    mode_inputs: list[Any] = field(default_factory=list)
    mode_of: Callable[..., str] = lambda *values: "default"
    param_inputs: list[Any] = field(default_factory=list)
    params_of: Callable[..., dict[str, Any]] = lambda *values: {}
    # Updates for param_inputs that put a checkpoint's parameters back.
    params_to_updates: Callable[[dict[str, Any]], list[Any]] = lambda params: []

    @property
    def page_inputs(self) -> list[Any]:
        boxes = [self.input_box, self.output_box] + ([self.notebook_box] if self.notebook_box else [])
        return boxes + list(self.mode_inputs) + list(self.param_inputs)

    @property
    def text_outputs(self) -> list[Any]:
        return [self.input_box, self.output_box] + ([self.notebook_box] if self.notebook_box else [])

    def split(self, values: tuple[Any, ...]) -> tuple[str, str, str | None, str, dict[str, Any]]:
        """Page values (in page_inputs order) -> input, output, notebook text, mode, params."""
        n_boxes = 3 if self.notebook_box else 2
        boxes, rest = values[:n_boxes], values[n_boxes:]
        mode_values, param_values = rest[:len(self.mode_inputs)], rest[len(self.mode_inputs):]
        notebook = boxes[2] if self.notebook_box else None
        return boxes[0], boxes[1], notebook, self.mode_of(*mode_values), self.params_of(*param_values)


class Panel:
    """Builds the components and wires every event to the recorder."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.store = recorder.store
        self._views: list[dict[str, Any]] = []
        # Events are wired in finish(), once every view exists: each event updates all of them.
        self._deferred: list[Callable[[], None]] = []

    def finish(self, blocks: gr.Blocks, binding: PageBinding) -> None:
        """Wire every event; call once, after quick_bar() and manager() have built their views."""
        for wire in self._deferred:
            wire()
        self._deferred.clear()
        self._install_tick()
        self._mirror(binding)
        self._load_event(blocks, binding)

    # ----- the page mirror ------------------------------------------------------------------

    def _mirror(self, binding: PageBinding) -> None:
        """Every change of the page's text reaches the recorder, last value wins."""

        def on_change(*values: Any) -> None:
            self._capture(binding, values)

        for box in binding.text_outputs:
            box.change(on_change, binding.page_inputs, None, queue=False, trigger_mode="always_last",
                       show_progress="hidden")

    def _capture(self, binding: PageBinding, values: tuple[Any, ...]) -> None:
        input_text, output_text, notebook_text, mode, params = binding.split(values)
        if mode == "notebook":
            input_text, output_text = notebook_text or "", ""
        self.recorder.update_page(mode=mode, input_text=input_text, output_text=output_text,
                                  params=params or None)

    # ----- the quick bar --------------------------------------------------------------------

    def quick_bar(self, binding: PageBinding) -> None:
        with gr.Row(elem_classes="sm-quick-bar"):
            picker = gr.Dropdown(label="Checkpoint", choices=[], value=None, interactive=True, scale=4,
                                 min_width=280, elem_classes="sm-picker")
            save = gr.Button("Save checkpoint", variant="primary", scale=1, min_width=140, elem_classes="sm-save")
            restore = gr.Button("Restore", scale=1, min_width=100, elem_classes="sm-restore")
        status = gr.Markdown(self._status_line(), elem_classes="sm-status")
        self._views.append({"picker": picker, "status_line": status})

        def wire() -> None:
            self._wire_save(binding, save, label_box=None)
            self._wire_restore(binding, restore, picker, load_model=None)

        self._deferred.append(wire)

    # ----- the manager ----------------------------------------------------------------------

    def manager(self, binding: PageBinding) -> None:
        settings = self.recorder.settings.current
        with gr.Row():
            search = gr.Textbox(label="Search sessions", placeholder="words in names, notes or text", scale=2)
            sessions = gr.Dropdown(label="Session", choices=[], value=None, interactive=True, scale=4,
                                   elem_classes="sm-sessions")
            refresh = gr.Button("Refresh", scale=0, min_width=90, elem_classes="sm-refresh")
        with gr.Row():
            new_name = gr.Textbox(label="Name", placeholder="name for a new session or a rename", scale=3,
                                  elem_classes="sm-name")
            create = gr.Button("New session", scale=1, elem_classes="sm-new")
            rename = gr.Button("Rename", scale=1, elem_classes="sm-rename")
            branch = gr.Button("Branch from checkpoint", scale=1, elem_classes="sm-branch")
            delete = gr.Button("Delete session", variant="stop", scale=1, elem_classes="sm-delete")
        with gr.Row(visible=False) as confirm_row:
            confirm_text = gr.Markdown("", elem_classes="sm-confirm-text")
            confirm = gr.Button("Yes, delete", variant="stop", elem_classes="sm-confirm")
            cancel = gr.Button("Cancel", elem_classes="sm-cancel")
        pending = gr.State(None)
        with gr.Row():
            picker = gr.Dropdown(label="Checkpoint", choices=[], value=None, interactive=True, scale=4,
                                 elem_classes="sm-manager-picker")
            label = gr.Textbox(label="Label for a new checkpoint", scale=2, elem_classes="sm-label")
        with gr.Row():
            save = gr.Button("Save checkpoint", variant="primary", elem_classes="sm-manager-save")
            restore = gr.Button("Restore", elem_classes="sm-manager-restore")
            load_model = gr.Checkbox(label="Load model", value=settings.load_model_on_restore,
                                     elem_classes="sm-load-model")
            delete_cp = gr.Button("Delete checkpoint", variant="stop", elem_classes="sm-delete-checkpoint")
        kv_info = gr.Markdown("", elem_classes="sm-kv-info")
        status = gr.Markdown(self._status(), elem_classes="sm-status")
        with gr.Accordion("Checkpoint JSON", open=False):
            preview = gr.Code(language="json", label="Selected checkpoint", interactive=False)
        self._transfer_block()
        self._settings_block()
        view = {"sessions": sessions, "picker": picker, "status": status, "preview": preview, "kv_info": kv_info}
        self._views.append(view)

        def wire() -> None:
            search.change(self._on_search, [search], [sessions], queue=False, show_progress="hidden")
            refresh.click(self.refresh_outputs, None, self.view_outputs(), queue=False)
            sessions.input(self._on_select_session, [sessions], self.view_outputs(), queue=False)
            picker.input(self._on_pick, [picker], [preview, kv_info], queue=False)
            create.click(self._on_create, [new_name], self.view_outputs(), queue=False)
            rename.click(self._on_rename, [new_name], self.view_outputs(), queue=False)
            branch.click(self._on_branch, [picker, new_name], self.view_outputs(), queue=False)
            delete.click(self._ask_delete_session, None, [confirm_row, confirm_text, pending], queue=False)
            delete_cp.click(self._ask_delete_checkpoint, [picker], [confirm_row, confirm_text, pending], queue=False)
            cancel.click(lambda: (gr.update(visible=False), "", None), None, [confirm_row, confirm_text, pending],
                         queue=False)
            confirm.click(self._on_confirm, [pending], self.view_outputs(), queue=False).then(
                lambda: (gr.update(visible=False), "", None), None, [confirm_row, confirm_text, pending], queue=False)
            self._wire_save(binding, save, label_box=label)
            self._wire_restore(binding, restore, picker, load_model=load_model)
            self._wire_transfer()

        self._deferred.append(wire)

    def _transfer_block(self) -> None:
        with gr.Accordion("Export / import", open=False):
            with gr.Row():
                fmt = gr.Radio(list(FORMATS), value="zip", label="Format (zip keeps KV snapshots)",
                               elem_classes="sm-export-format")
                export = gr.Button("Export session", elem_classes="sm-export")
                exported = gr.File(label="Exported file", interactive=False, elem_classes="sm-exported")
            upload = gr.File(label="Import a .zip or .json export", file_types=[".zip", ".json"], type="filepath",
                             elem_classes="sm-import")
        self._pending_transfer = (export, fmt, exported, upload)

    def _wire_transfer(self) -> None:
        export, fmt, exported, upload = self._pending_transfer

        def do_export(fmt_value: str) -> list[Any]:
            session_id = self.recorder.session_id
            if not session_id:
                return [None] + self.refresh_outputs("Select a session to export first.")
            try:
                path = export_session(self.store, session_id, Path(tempfile.mkdtemp(prefix="sm-export-")),
                                      fmt_value)
            except SessionManagerError as exc:
                return [None] + self.refresh_outputs(f"Warning: not exported: {exc}")
            return [str(path)] + self.refresh_outputs(f"Exported as {path.name}.")

        def do_import(path: str | None) -> list[Any]:
            if not path:
                return self.refresh_outputs()
            try:
                meta = import_file(self.store, Path(path))
                self.recorder.select_session(meta.id)
            except SessionManagerError as exc:
                return self.refresh_outputs(f"Warning: not imported: {exc}")
            return self.refresh_outputs(f"Imported “{meta.name}” as a new session.")

        export.click(do_export, [fmt], [exported] + self.view_outputs(), queue=False)
        upload.upload(do_import, [upload], self.view_outputs(), queue=False)

    def _settings_block(self) -> None:
        s = self.recorder.settings.current
        with gr.Accordion("Settings", open=False):
            with gr.Row():
                autosave = gr.Checkbox(label="Autosave", value=s.autosave, elem_classes="sm-autosave")
                interval = gr.Slider(5, 900, value=s.autosave_interval, step=5, label="Autosave every (seconds)",
                                     elem_classes="sm-interval")
                save_on_stop = gr.Checkbox(label="Checkpoint on every Stop", value=s.save_on_stop)
                auto_session = gr.Checkbox(label="New session when the prompt changes", value=s.auto_session)
            with gr.Row():
                auto_load = gr.Radio(["last", "newest", "off"], value=s.auto_load, label="Load at startup")
                template = gr.Textbox(label="Name for new sessions ({date} {time} {words} {mode})",
                                      value=s.name_template)
                kv_policy = gr.Radio(["always", "manual", "never"], value=s.kv_snapshots,
                                     label="KV snapshots (always = manual + on Stop)")
                kv_budget = gr.Number(value=s.kv_budget_mb, label="KV budget (MB)", precision=0, minimum=0)
            note = gr.Markdown("", elem_classes="sm-settings-note")
        for component, key in ((autosave, "autosave"), (interval, "autosave_interval"),
                               (save_on_stop, "save_on_stop"), (auto_session, "auto_session"),
                               (auto_load, "auto_load"), (template, "name_template"),
                               (kv_policy, "kv_snapshots"), (kv_budget, "kv_budget_mb")):
            event = component.release if isinstance(component, gr.Slider) else component.change
            event(self._setting_changer(key), [component], [note], queue=False, show_progress="hidden")

    def _setting_changer(self, key: str) -> Callable[[Any], str]:
        def change(value: Any) -> str:
            try:
                self.recorder.settings.set(key, value)
            except SessionManagerError as exc:
                return f"Warning: {exc}"
            if key in ("autosave_interval", "autosave"):
                self.recorder.reschedule()
            pinned = " (textgen's settings.yaml overrides it at startup)" if \
                self.recorder.settings.pinned_by_host(key) else ""
            return f"Saved: {key} = {value}{pinned}."
        return change

    # ----- shared outputs -------------------------------------------------------------------

    def view_outputs(self) -> list[Any]:
        return [component for view in self._views for component in view.values()]

    def refresh_outputs(self, message: str | None = None, selected: str | None = None,
                        kept: list[str | None] | None = None) -> list[Any]:
        """Fresh values for every view component (dropdowns show what is really selected).

        ``selected`` is put in every picker; ``kept`` gives each view's picker its own current
        value back (a background refresh must not move a selection the user made).
        """
        if message:
            self.recorder.notify(message)
        session_id = self.recorder.session_id
        rows = self.store.list_sessions()
        cp_choices = checkpoint_choices(self.store, session_id)
        valid = {value for _, value in cp_choices}
        newest = cp_choices[0][1] if cp_choices else None
        values: list[Any] = []
        for index, view in enumerate(self._views):
            choice = kept[index] if kept is not None else selected
            choice = choice if choice in valid else newest
            checkpoint = self._load_choice(choice) if {"preview", "kv_info"} & set(view) else None
            for key in view:
                values.append(self._view_value(key, rows, session_id, cp_choices, choice, checkpoint))
        return values

    def _view_value(self, key: str, rows: list, session_id: str | None, cp_choices: list, selected: str | None,
                    checkpoint: Checkpoint | None) -> Any:
        if key == "status_line":
            return self._status_line()
        if key == "picker":
            return gr.update(choices=cp_choices, value=selected)
        if key == "status":
            return self._status()
        if key == "sessions":
            return gr.update(choices=session_choices(rows), value=session_id)
        if key == "preview":
            return _json_preview(checkpoint)
        if key == "kv_info":
            return kv_summary(self.store, session_id, checkpoint)
        raise KeyError(key)

    def tick(self, seen: int, *pickers: str | None) -> list[Any]:
        """Periodic refresh: background saves (autosave, save-on-stop) show up without a click."""
        revision = self.recorder.revision
        if revision == seen:
            return [seen] + [gr.update() for _ in self.view_outputs()]
        return [revision] + self.refresh_outputs(kept=list(pickers))

    def _install_tick(self) -> None:
        """A hidden button that the page's script clicks every few seconds."""
        seen = gr.State(-1)
        button = gr.Button("tick", elem_id="sm-tick", elem_classes="sm-hidden")
        pickers = [view["picker"] for view in self._views]
        button.click(self.tick, [seen] + pickers, [seen] + self.view_outputs(), queue=False,
                     show_progress="hidden")

    def _load_event(self, blocks: gr.Blocks, binding: PageBinding) -> None:
        """On every page load: the panel's views, and the page's text from the recorder (auto-load,
        and a browser refresh that would otherwise show empty boxes)."""
        blocks.load(self.refresh_outputs, None, self.view_outputs(), queue=False)

        def fill_page() -> list[Any]:
            page = self.recorder.page
            if not (page.input_text or page.output_text):
                return [gr.update() for _ in binding.text_outputs + list(binding.param_inputs)]
            return _page_values(binding, page)

        blocks.load(fill_page, None, binding.text_outputs + list(binding.param_inputs), queue=False)

    # ----- event handlers -------------------------------------------------------------------

    def _wire_save(self, binding: PageBinding, button: gr.Button, label_box: Any) -> None:
        inputs = binding.page_inputs + ([label_box] if label_box is not None else [])

        def save(*values: Any) -> list[Any]:
            label = values[-1] if label_box is not None else ""
            page_values = values[:-1] if label_box is not None else values
            self._capture(binding, page_values)
            try:
                checkpoint = self.recorder.checkpoint("manual", label=label or "")
            except SessionManagerError as exc:
                return self.refresh_outputs(f"Warning: Not saved: {exc}")
            return self.refresh_outputs(selected=checkpoint.id)

        button.click(save, inputs, self.view_outputs(), queue=False)

    def _wire_restore(self, binding: PageBinding, button: gr.Button, picker: Any, load_model: Any) -> None:
        inputs = [picker] + ([load_model] if load_model is not None else [])
        page_outputs = binding.text_outputs + list(binding.param_inputs)

        def restore(choice: str | None, load: bool | None = None) -> list[Any]:
            unchanged = [gr.update() for _ in page_outputs]
            session_id = self.recorder.session_id
            if not session_id or not choice:
                return unchanged + self.refresh_outputs("Pick a checkpoint to restore first.")
            if load is None:
                load = self.recorder.settings.current.load_model_on_restore
            try:
                result = self.recorder.restore(session_id, None if choice == AUTOSAVE_CHOICE else choice,
                                               load_model=bool(load))
            except SessionManagerError as exc:
                return unchanged + self.refresh_outputs(f"Warning: Not restored: {exc}")
            return _page_values(binding, result.checkpoint) + self.refresh_outputs(selected=choice)

        button.click(restore, inputs, page_outputs + self.view_outputs(), queue=False)

    def _on_search(self, query: str) -> Any:
        rows = self.store.search(query or "")
        return gr.update(choices=session_choices(rows), value=self.recorder.session_id)

    def _on_select_session(self, session_id: str | None) -> list[Any]:
        if not session_id:
            return self.refresh_outputs()
        try:
            self.recorder.select_session(session_id)
        except SessionManagerError as exc:
            return self.refresh_outputs(f"Warning: {exc}")
        name = self.store.get_session(session_id).name
        return self.refresh_outputs(f"Selected “{name}”. Pick a checkpoint and press Restore to load it.")

    def _on_pick(self, choice: str | None) -> tuple[str, str]:
        checkpoint = self._load_choice(choice)
        return _json_preview(checkpoint), kv_summary(self.store, self.recorder.session_id, checkpoint)

    def _on_create(self, name: str) -> list[Any]:
        try:
            session_id = self.recorder.new_session(name=(name or "").strip() or None)
        except SessionManagerError as exc:
            return self.refresh_outputs(f"Warning: {exc}")
        return self.refresh_outputs(f"Created “{self.store.get_session(session_id).name}”.")

    def _on_rename(self, name: str) -> list[Any]:
        session_id = self.recorder.session_id
        if not session_id:
            return self.refresh_outputs("Select a session to rename first.")
        try:
            meta = self.store.rename_session(session_id, name)
        except SessionManagerError as exc:
            return self.refresh_outputs(f"Warning: Not renamed: {exc}")
        return self.refresh_outputs(f"Renamed to “{meta.name}”.")

    def _on_branch(self, choice: str | None, name: str) -> list[Any]:
        session_id = self.recorder.session_id
        if not session_id or not choice or choice == AUTOSAVE_CHOICE:
            return self.refresh_outputs("Pick a saved checkpoint to branch from.")
        try:
            meta, _ = self.store.branch(session_id, choice, (name or "").strip() or None)
            self.recorder.select_session(meta.id)
        except SessionManagerError as exc:
            return self.refresh_outputs(f"Warning: Not branched: {exc}")
        return self.refresh_outputs(f"Branched into “{meta.name}”.")

    def _ask_delete_session(self) -> tuple[Any, str, Any]:
        session_id = self.recorder.session_id
        if not session_id:
            return gr.update(visible=False), "", None
        meta = self.store.get_session(session_id)
        count = len(self.store.checkpoint_ids(session_id))
        text = f"Delete the session **{_md_escape(meta.name)}** and its {count} checkpoint(s)? This cannot be undone."
        return gr.update(visible=True), text, {"session": session_id}

    def _ask_delete_checkpoint(self, choice: str | None) -> tuple[Any, str, Any]:
        session_id = self.recorder.session_id
        if not session_id or not choice or choice == AUTOSAVE_CHOICE:
            return gr.update(visible=False), "", None
        checkpoint = self._load_choice(choice)
        if checkpoint is None:
            return gr.update(visible=False), "", None
        text = f"Delete the checkpoint of **{checkpoint.created.astimezone():%Y-%m-%d %H:%M:%S}**?"
        return gr.update(visible=True), text, {"session": session_id, "checkpoint": choice}

    def _on_confirm(self, pending: dict[str, str] | None) -> list[Any]:
        if not pending:
            return self.refresh_outputs()
        try:
            if "checkpoint" in pending:
                self.store.delete_checkpoint(pending["session"], pending["checkpoint"])
                message = "Checkpoint deleted."
            else:
                name = self.store.get_session(pending["session"]).name
                self.store.delete_session(pending["session"])
                rows = self.store.list_sessions()
                self.recorder.select_session(rows[0].meta.id if rows else None)
                message = f"Deleted “{name}”."
        except SessionManagerError as exc:
            message = f"Warning: Not deleted: {exc}"
        self.recorder.touch()
        return self.refresh_outputs(message)

    # ----- helpers --------------------------------------------------------------------------

    def _load_choice(self, choice: str | None) -> Checkpoint | None:
        session_id = self.recorder.session_id
        if not session_id or not choice:
            return None
        try:
            if choice == AUTOSAVE_CHOICE:
                return self.store.read_autosave(session_id)
            return self.store.get_checkpoint(session_id, choice)
        except SessionManagerError:
            return None

    def _session_label(self) -> str:
        session_id = self.recorder.session_id
        if not session_id:
            return "**Session:** none yet (one starts when you save or generate)"
        try:
            return f"**Session:** {_md_escape(self.store.get_session(session_id).name)}"
        except SessionManagerError:
            return "**Session:** none"

    def _status(self) -> str:
        return self.recorder.status.text

    def _status_line(self) -> str:
        return f"{self._session_label()} · {self._status()}"


def _page_values(binding: PageBinding, checkpoint: Checkpoint | PageState) -> list[Any]:
    """Values for the page's text boxes and parameters from a checkpoint (or the mirrored page)."""
    if checkpoint.mode == "notebook":
        input_text = output_text = notebook_text = checkpoint.input_text
    else:
        input_text, output_text = checkpoint.input_text, checkpoint.output_text
        notebook_text = checkpoint.output_text or checkpoint.input_text
    values: list[Any] = [input_text, output_text] + ([notebook_text] if binding.notebook_box else [])
    return values + list(binding.params_to_updates(checkpoint.params))


def _json_preview(checkpoint: Checkpoint | None) -> str:
    if checkpoint is None:
        return ""
    return json.dumps(checkpoint.model_dump(mode="json"), indent=2, ensure_ascii=False)


def _md_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "\\`*_{}[]()#+-.!|<>" else ch for ch in text)


CSS = """
.sm-hidden { display: none !important; }
.sm-quick-bar { align-items: end; }
.sm-status p { font-size: 0.9em; opacity: 0.85; margin: 0; }
.sm-session-label p { margin: 0; }
"""

JS = f"""
setInterval(() => {{
  const button = document.getElementById('sm-tick');
  if (button && document.visibilityState === 'visible') button.click();
}}, {TICK_SECONDS * 1000});
"""
