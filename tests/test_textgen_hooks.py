"""script.py driven the way textgen drives it: loaded from user_data/extensions/ as a module
without a parent package, settings applied, setup(), then the hooks per textgen's call order."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

HARNESS = Path(__file__).parent / "textgen_harness"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def textgen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A textgen-like process: its `modules` on sys.path, user_data in tmp, cwd elsewhere."""
    monkeypatch.syspath_prepend(str(HARNESS))
    for name in [n for n in sys.modules if n == "modules" or n.startswith("modules.")]:
        monkeypatch.delitem(sys.modules, name)
    import modules.shared as shared

    user_data = tmp_path / "user_data"
    (user_data / "extensions").mkdir(parents=True)
    os.symlink(REPO, user_data / "extensions" / "session_manager")
    monkeypatch.setattr(shared, "user_data_dir", user_data)
    monkeypatch.setattr(shared, "settings", {})
    monkeypatch.setattr(shared.args, "extra_flags", None)
    monkeypatch.setattr(shared.args, "multi_user", False)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    yield shared
    ext = sys.modules.get("user_ext_session_manager")
    if ext is not None and getattr(ext, "_runtime", None) is not None:
        ext._runtime.recorder.stop_autosave()
    sys.modules.pop("user_ext_session_manager", None)


def load_extension(shared: ModuleType) -> ModuleType:
    """modules/extensions.py: load_extensions() + apply_settings() + setup()."""
    path = shared.user_data_dir / "extensions" / "session_manager" / "script.py"
    spec = importlib.util.spec_from_file_location("user_ext_session_manager", str(path))
    extension = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = extension
    spec.loader.exec_module(extension)
    for param in extension.params:
        key = f"session_manager-{param}"
        shared.default_settings[key] = extension.params[param]
        if key in shared.settings:
            extension.params[param] = shared.settings[key]
    extension.setup()
    return extension


def page_state(two_columns: bool = True, **extra) -> dict:
    return {"show_two_notebook_columns": two_columns, "temperature": 0.5, "seed": 7, **extra}


def test_stop_in_the_default_view_saves_the_exact_page_text(textgen) -> None:
    from textgen_harness.textgen_calls import generate_reply_wrapper

    ext = load_extension(textgen)
    prompt = "Q: is 1 < 2 & 3 > 2?\nA:"
    state = page_state(**{"textbox-default": prompt})
    shown = generate_reply_wrapper(ext, prompt, state, [" Yes", ", 1 < 2", " & more", " never shown"], stop_after=3)
    ext._runtime.recorder.wait_for_background()
    store = ext._runtime.recorder.store
    session_id = ext._runtime.recorder.session_id
    (checkpoint,) = store.list_checkpoints(session_id)
    assert checkpoint.trigger == "stop"
    assert checkpoint.output_text == shown == prompt + " Yes, 1 < 2 & more"
    assert checkpoint.input_text == prompt
    assert store.root == textgen.user_data_dir / "session_manager"


def test_notebook_generation_saves_the_single_text(textgen) -> None:
    from textgen_harness.textgen_calls import generate_reply_wrapper

    ext = load_extension(textgen)
    shown = generate_reply_wrapper(ext, "Chapter 1.", page_state(two_columns=False), [" It", " rained."])
    ext._runtime.recorder.wait_for_background()
    (checkpoint,) = ext._runtime.recorder.store.list_checkpoints(ext._runtime.recorder.session_id)
    assert checkpoint.mode == "notebook" and checkpoint.input_text == shown == "Chapter 1. It rained."


def test_api_and_logits_generations_are_not_recorded(textgen) -> None:
    from textgen_harness.textgen_calls import api_completion

    ext = load_extension(textgen)
    api_completion(ext, "an API prompt", page_state(), [" reply"])
    assert ext._runtime.recorder.store.list_sessions() == []


def test_chat_calls_are_left_alone(textgen) -> None:
    from textgen_harness.textgen_calls import apply_string_extension

    ext = load_extension(textgen)
    assert apply_string_extension(ext, "output_modifier", "hi &amp;", page_state(), is_chat=True) == "hi &amp;"
    assert ext._runtime.recorder.store.list_sessions() == []


def test_a_failing_save_never_breaks_the_generation(textgen) -> None:
    import shutil

    from textgen_harness.textgen_calls import generate_reply_wrapper

    ext = load_extension(textgen)
    sessions = ext._runtime.recorder.store.sessions_dir
    shutil.rmtree(sessions)
    sessions.write_text("not a folder")  # every write below it now fails for real
    shown = generate_reply_wrapper(ext, "Prompt", page_state(**{"textbox-default": "Prompt"}), [" goes", " on"])
    assert shown == "Prompt goes on"
    ext._runtime.recorder.wait_for_background()
    assert "not saved on stop" in ext._runtime.recorder.status.text


def test_setup_adds_the_slot_flags_in_both_textgen_formats(textgen) -> None:
    load_extension(textgen)
    flags = textgen.args.extra_flags
    assert flags.startswith("--slot-save-path ") and flags.endswith("--swa-full")
    assert str(textgen.user_data_dir / "session_manager" / "kv-slots") in flags


def test_setup_keeps_the_legacy_flag_format(textgen) -> None:
    textgen.args.extra_flags = "rpc=1222,no-mmap"
    load_extension(textgen)
    assert textgen.args.extra_flags.startswith("rpc=1222,no-mmap,slot-save-path=")
    assert textgen.args.extra_flags.endswith(",swa-full")


def test_settings_yaml_overrides_and_output_path(textgen, tmp_path: Path) -> None:
    textgen.settings.update({"session_manager-autosave_interval": 45, "session_manager-output_path": "mine"})
    ext = load_extension(textgen)
    assert ext._runtime.recorder.settings.current.autosave_interval == 45
    assert ext._runtime.root == textgen.user_data_dir / "mine"
    assert ext._runtime.recorder.settings.pinned_by_host("autosave_interval")


def test_multi_user_mode_turns_the_store_off(textgen) -> None:
    from textgen_harness.textgen_calls import generate_reply_wrapper

    textgen.args.multi_user = True
    ext = load_extension(textgen)
    assert "multi-user" in ext._runtime.disabled_reason
    generate_reply_wrapper(ext, "private", page_state(**{"textbox-default": "private"}), [" words"])
    assert ext._runtime.recorder.store.list_sessions() == []
    assert textgen.args.extra_flags is None


def test_work_comes_back_after_a_restart(textgen) -> None:
    from textgen_harness.textgen_calls import generate_reply_wrapper

    ext = load_extension(textgen)
    generate_reply_wrapper(ext, "Keep this", page_state(**{"textbox-default": "Keep this"}), [" safe."])
    ext._runtime.recorder.wait_for_background()
    ext._runtime.recorder.stop_autosave()
    sys.modules.pop("user_ext_session_manager")
    again = load_extension(textgen)
    assert again._runtime.recorder.page.output_text == "Keep this safe."
    assert "Loaded" in again._runtime.recorder.status.text


def test_the_stop_checkpoint_is_written_once_the_generation_has_ended(textgen) -> None:
    """output_modifier runs inside the generation; a KV snapshot taken there would find the engine busy."""
    from modules import models
    from textgen_harness.textgen_calls import generate_reply_wrapper

    ext = load_extension(textgen)
    store = ext._runtime.recorder.store
    active_at_write: list[int] = []
    original = store.add_checkpoint

    def spy(session_id, checkpoint):
        active_at_write.append(models.active_generation_count)
        return original(session_id, checkpoint)

    store.add_checkpoint = spy
    generate_reply_wrapper(ext, "Slow", page_state(**{"textbox-default": "Slow"}), [" and", " steady"])
    ext._runtime.recorder.wait_for_background()
    assert active_at_write == [0]


def test_a_second_setup_retires_the_first_timer(textgen) -> None:
    """textgen's "Apply flags/extensions and restart" loads script.py again as a new module."""
    first = load_extension(textgen)
    timer = first._runtime.recorder._timer
    assert timer is not None and timer.is_alive()
    sys.modules.pop("user_ext_session_manager")
    second = load_extension(textgen)
    assert not timer.is_alive()
    assert second._runtime.recorder._timer.is_alive()
