"""script.py driven the way textgen drives it: loaded from user_data/extensions/ as a module without a
parent package, settings applied, setup(), then the hooks per textgen's call order (tests/textgen_harness).

The real textgen runs in tests/textgen/; these pin down the hook logic, including what is hard to time
in a real server: a generation that stays open after its output hook, or one cut short."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import time
import weakref
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
    monkeypatch.setattr(shared, "settings", {"prompt-notebook": "story", "show_two_notebook_columns": True})
    monkeypatch.setattr(shared, "persistent_interface_state", {})
    monkeypatch.setattr(shared, "gradio", {name: object() for name in shared.input_elements})
    monkeypatch.setattr(shared.args, "extra_flags", None)
    monkeypatch.setattr(shared.args, "multi_user", False)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    yield shared
    ext = sys.modules.get("user_ext_session_manager")
    if ext is not None and getattr(ext, "_runtime", None) is not None and ext._runtime.recorder is not None:
        ext._runtime.generations.wait(10)
        ext._runtime.recorder.timer.stop()
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
    return {"show_two_notebook_columns": two_columns, "temperature": 0.5, "seed": 7, "prompt_menu-default": "story",
            "prompt_menu-notebook": "story", **extra}


def saved(ext: ModuleType) -> list:
    """Every checkpoint in the store, once the generations' watchers are done."""
    ext._runtime.generations.wait(10)
    ext._runtime.chats.wait(10)
    store = ext._runtime.recorder.store
    return [c for row in store.list_sessions() for c in store.list_checkpoints(row.meta.id)]


def test_stop_in_the_default_view_saves_the_exact_page_text(textgen) -> None:
    from textgen_harness.textgen_calls import generate_reply_wrapper

    ext = load_extension(textgen)
    prompt = "Q: is 1 < 2 & 3 > 2?\nA:"
    state = page_state(**{"textbox-default": prompt})
    shown = generate_reply_wrapper(ext, prompt, state, [" Yes", ", 1 < 2", " & more", " never shown"], stop_after=3)
    (checkpoint,) = saved(ext)
    assert checkpoint.trigger == "stop"
    assert checkpoint.output_text == shown == prompt + " Yes, 1 < 2 & more"
    assert checkpoint.input_text == prompt
    assert checkpoint.params == {"temperature": 0.5, "seed": 7}
    assert checkpoint.generation is not None and checkpoint.generation.seconds is not None
    store = ext._runtime.recorder.store
    assert store.root == textgen.user_data_dir / "session_manager"
    assert store.list_sessions()[0].meta.link.name == "story"  # the session follows textgen's prompt


def test_continue_in_the_default_view_keeps_the_input_box_as_the_input(textgen) -> None:
    """Continue generates from the output box; the input box stays what the user wrote."""
    from textgen_harness.textgen_calls import generate_reply_wrapper

    ext = load_extension(textgen)
    state = page_state(**{"textbox-default": "Write a poem.", "output_textbox": "Write a poem. Roses"})
    shown = generate_reply_wrapper(ext, "Write a poem. Roses", state, [" are", " red."])
    (checkpoint,) = saved(ext)
    assert checkpoint.input_text == "Write a poem."
    assert checkpoint.output_text == shown == "Write a poem. Roses are red."


def test_notebook_generation_saves_the_single_text(textgen) -> None:
    from textgen_harness.textgen_calls import generate_reply_wrapper

    ext = load_extension(textgen)
    shown = generate_reply_wrapper(ext, "Chapter 1.", page_state(two_columns=False), [" It", " rained."])
    (checkpoint,) = saved(ext)
    assert checkpoint.mode == "notebook" and checkpoint.input_text == shown == "Chapter 1. It rained."


def test_the_stop_checkpoint_waits_until_the_generation_has_ended(textgen) -> None:
    """output_modifier runs inside the generation; Gradio consumes the last reply a moment later."""
    from modules import models
    from textgen_harness.textgen_calls import page_generation

    ext = load_extension(textgen)
    store = ext._runtime.recorder.store
    active_at_write: list[int] = []
    original = store.add_checkpoint

    def spy(session_id, checkpoint):
        active_at_write.append(models.active_generation_count)
        return original(session_id, checkpoint)

    store.add_checkpoint = spy
    steps = page_generation(ext, "Slow", page_state(**{"textbox-default": "Slow"}), [" and", " steady"])
    shown = [next(steps) for _ in range(3)]  # two tokens, then the reply after the output hook
    assert shown[-1] == "Slow and steady" and models.active_generation_count == 1
    time.sleep(1.0)  # the watcher polls every 0.25 s: it must keep waiting
    assert store.list_sessions() == [] and active_at_write == []
    steps.close()  # Gradio asks for the next reply: the generation ends
    (checkpoint,) = saved(ext)
    assert active_at_write == [0] and checkpoint.output_text == "Slow and steady"


def test_a_generation_cut_short_still_gets_its_stop_checkpoint(textgen) -> None:
    """Closing the browser tab cancels the generation: no output hook, yet the shown text is saved."""
    from textgen_harness.textgen_calls import page_generation

    ext = load_extension(textgen)
    steps = page_generation(ext, "Once", page_state(**{"textbox-default": "Once"}), [" upon", " a", " time"])
    shown = [next(steps), next(steps)]
    steps.close()  # cancelled mid-stream
    (checkpoint,) = saved(ext)
    assert checkpoint.trigger == "stop" and checkpoint.output_text == shown[-1] == "Once upon a"


def test_overlapping_generations_keep_their_own_prompts(textgen) -> None:
    from textgen_harness.textgen_calls import page_generation

    ext = load_extension(textgen)
    first = page_generation(ext, "First", page_state(**{"textbox-default": "First"}), [" one"])
    second = page_generation(ext, "Second", page_state(**{"textbox-default": "Second"}), [" two"])
    next(first), next(second)
    list(first), list(second)
    assert sorted(c.output_text for c in saved(ext)) == ["First one", "Second two"]
    assert sorted(c.input_text for c in saved(ext)) == ["First", "Second"]


def test_api_and_logits_generations_are_not_recorded(textgen) -> None:
    from textgen_harness.textgen_calls import api_completion

    ext = load_extension(textgen)
    api_completion(ext, "an API prompt", page_state(), [" reply"])
    assert saved(ext) == []


def test_chat_calls_are_left_alone(textgen) -> None:
    from textgen_harness.textgen_calls import apply_string_extension, generate_reply

    ext = load_extension(textgen)
    assert apply_string_extension(ext, "input_modifier", "hi &amp;", page_state(), is_chat=True) == "hi &amp;"
    replies = list(generate_reply(ext, "hello", page_state(), [" there"], is_chat=True, for_ui=True))
    assert replies[-1] == " there"
    assert apply_string_extension(ext, "output_modifier", "hi &amp;", page_state(), is_chat=True) == "hi &amp;"
    assert saved(ext) == []
    assert not ext._runtime.recorder.page(None).status.startswith("Warning"), "a chat hook was taken for the page's"


def test_a_textgen_that_generates_differently_is_reported_once(textgen, caplog) -> None:
    """Without textgen's _generate_reply step the hooks cannot tell the page from the API: they say so."""
    from textgen_harness.textgen_calls import apply_string_extension

    ext = load_extension(textgen)
    with caplog.at_level(logging.WARNING, logger="session_manager"):
        for _ in range(3):
            apply_string_extension(ext, "input_modifier", "text", page_state())
    assert sum("generates differently" in r.getMessage() for r in caplog.records) == 1
    assert "generates differently" in ext._runtime.recorder.page(None).status
    assert saved(ext) == []


def test_a_failing_save_never_breaks_the_generation(textgen) -> None:
    import shutil

    from textgen_harness.textgen_calls import generate_reply_wrapper

    ext = load_extension(textgen)
    sessions = ext._runtime.recorder.store.layout.sessions
    shutil.rmtree(sessions)
    sessions.write_text("not a folder")  # every write below it now fails for real
    shown = generate_reply_wrapper(ext, "Prompt", page_state(**{"textbox-default": "Prompt"}), [" goes", " on"])
    assert shown == "Prompt goes on"
    ext._runtime.generations.wait(10)
    status = ext._runtime.recorder.page(None).status
    assert status.startswith("Warning:") and "save" in status


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


def test_settings_yaml_pins_win_and_stay_pinned(textgen) -> None:
    textgen.settings.update({"session_manager-autosave_interval": 45, "session_manager-output_path": "mine"})
    ext = load_extension(textgen)
    settings = ext._runtime.recorder.settings
    assert settings.current.autosave_interval == 45 and settings.pinned_by_host("autosave_interval")
    assert ext._runtime.root == textgen.user_data_dir / "mine"
    message = ext._runtime.workspace.set_setting("autosave_interval", 60)
    assert message.startswith("Warning:") and settings.current.autosave_interval == 45
    user_file = ext._runtime.root / "settings.json"
    assert not user_file.exists() or "autosave_interval" not in user_file.read_text()


def test_multi_user_mode_without_logins_writes_nothing_into_user_data(textgen) -> None:
    from textgen_harness.textgen_calls import generate_reply_wrapper

    textgen.args.multi_user = True
    ext = load_extension(textgen)
    assert ext._runtime.multi.per_tab  # each tab's sessions are kept in memory (tests/test_multiuser_hooks.py)
    generate_reply_wrapper(ext, "private", page_state(**{"textbox-default": "private"}), [" words"])
    assert not (textgen.user_data_dir / "session_manager").exists()
    assert textgen.args.extra_flags is None


def test_after_a_restart_the_page_shows_one_saved_state(textgen) -> None:
    """Our session and textgen's prompt file agree: the newer one is shown, whole, and the status says which."""
    from textgen_harness.textgen_calls import generate_reply_wrapper

    ext = load_extension(textgen)
    prompt_file = textgen.user_data_dir / "logs" / "notebook" / "story.txt"
    prompt_file.parent.mkdir(parents=True)
    prompt_file.write_text("Keep this")  # textgen saves the Default input itself
    generate_reply_wrapper(ext, "Keep this", page_state(**{"textbox-default": "Keep this"}), [" safe."])
    saved(ext)
    ext._runtime.recorder.timer.stop()
    sys.modules.pop("user_ext_session_manager")

    again = load_extension(textgen)
    host = again._runtime.recorder.host
    present = host.prompts.present_at_start(again._runtime.recorder.store, "last")
    assert (present.content.input_text, present.content.output_text) == ("Keep this", "Keep this safe.")
    assert present.status.startswith("Loaded “") and "stop checkpoint" in present.status
    assert textgen.persistent_interface_state["output_textbox"] == "Keep this safe."

    later = time.time() + 5
    prompt_file.write_text("Typed on after the last save")
    os.utime(prompt_file, (later, later))  # textgen saved newer text than our last checkpoint
    present = host.prompts.present_at_start(again._runtime.recorder.store, "last")
    assert (present.content.input_text, present.content.output_text) == ("Typed on after the last save", "")
    assert "textgen's saved prompt" in present.status


def test_a_second_setup_retires_the_first_timer(textgen) -> None:
    """textgen's "Apply flags/extensions and restart" loads script.py again as a new module."""
    first = load_extension(textgen)
    timer = first._runtime.recorder.timer
    assert timer.running
    sys.modules.pop("user_ext_session_manager")
    second = load_extension(textgen)
    assert not timer.running and second._runtime.recorder.timer.running


def chat_state(unique_id: str = "20261123-10-00-00", history: dict | None = None) -> dict:
    return {**page_state(), "mode": "chat", "unique_id": unique_id, "character_menu": "Assistant", "name1": "You",
            "name2": "Assistant", "history": history or {"internal": [], "visible": [], "metadata": {}}}


def test_every_chat_reply_is_a_checkpoint_of_the_chat(textgen) -> None:
    from textgen_harness.textgen_calls import chat_reply

    ext = load_extension(textgen)
    state = chat_state()
    for text, tokens, how in (("Hello there", ["Hi", "!"], {}), ("How are you?", ["Fine", ", thanks", " & you?"], {}),
                              ("", ["Very well."], {"regenerate": True}), ("", [" Truly."], {"_continue": True})):
        chat_reply(ext, text, state, tokens, **how)
        saved(ext)  # textgen runs one reply after the other
    checkpoints = sorted(saved(ext), key=lambda c: c.created)
    assert [c.trigger for c in checkpoints] == ["stop", "stop", "regenerate", "continue"]
    last = checkpoints[-1]
    assert last.mode == "chat" and last.history["internal"][-1] == ["How are you?", "Very well. Truly."]
    assert last.history["visible"][-1][1] == "Very well. Truly."
    assert last.chat.unique_id == "20261123-10-00-00" and last.chat.character == "Assistant"
    (session,) = ext._runtime.recorder.store.list_sessions()
    assert session.meta.link.kind == "textgen-chat" and session.meta.link.name == "20261123-10-00-00"
    assert session.meta.name.endswith("Hello there")  # named after the chat's first message


def test_a_chat_reply_cut_short_is_saved_as_far_as_it_went(textgen) -> None:
    from textgen_harness.textgen_calls import chatbot_wrapper

    ext = load_extension(textgen)
    steps = chatbot_wrapper(ext, "Tell me a story", chat_state(), ["Once", " upon", " a time"], for_ui=True)
    next(steps), next(steps)
    steps.close()  # the browser tab went away
    (checkpoint,) = saved(ext)
    assert checkpoint.history["internal"][-1] == ["Tell me a story", "Once upon"]


def test_a_stopped_reply_whose_tab_closed_before_the_save_is_saved_whole(textgen) -> None:
    """Issue 20.0: Stop, then the tab closes while the engine still drops the stopped task, so the watcher saves
    after chatbot_wrapper's generator is gone, and with it its frame's locals."""
    from modules import models
    from textgen_harness.textgen_calls import chatbot_wrapper

    ext = load_extension(textgen)
    steps = chatbot_wrapper(ext, "Tell me a story", chat_state(), ["Once", " upon", " a time"], stop_after=2,
                            for_ui=True)
    frame, generator = steps.gi_frame, weakref.ref(steps)
    models.active_generation_count += 1  # llama-server is still cancelling: the save waits for it
    try:
        shown = [next(steps)["visible"][-1][1] for _ in range(3)]  # two tokens, then Stop: the last step
        del steps  # the browser tab went away: Gradio drops the reply's generator before its last step
        assert generator() is None, "the reply's generator is kept alive: it never ends, nor does textgen's lock"
        # Python 3.13 drops a closed generator's locals at once (PEP 667: f_locals is a view of them); here too.
        frame.clear()
    finally:
        models.active_generation_count -= 1
    (checkpoint,) = saved(ext)
    assert shown == ["Once", "Once upon", "Once upon"]
    assert checkpoint.trigger == "stop" and checkpoint.chat.unique_id == "20261123-10-00-00"
    assert checkpoint.history["internal"] == [["Tell me a story", "Once upon"]]
    assert checkpoint.history["visible"] == [["Tell me a story", "Once upon"]]
    assert checkpoint.params["temperature"] == 0.5


def test_api_chat_and_incognito_chats_are_left_alone(textgen) -> None:
    from textgen_harness.textgen_calls import chat_reply, chatbot_wrapper

    ext = load_extension(textgen)
    list(chatbot_wrapper(ext, "an API question", chat_state(), ["an answer"], for_ui=False))
    chat_reply(ext, "secret", chat_state("incognito-20261123-10-00-00"), ["shh"])
    assert saved(ext) == []


def test_switching_chats_switches_sessions(textgen) -> None:
    from textgen_harness.textgen_calls import chat_reply

    ext = load_extension(textgen)
    first, second = chat_state("20261123-10-00-00"), chat_state("20261123-11-00-00")
    for state, text, tokens in ((first, "first chat", ["one"]), (second, "second chat", ["two"]),
                                (first, "first again", ["three"])):
        chat_reply(ext, text, state, tokens)
        saved(ext)
    store = ext._runtime.recorder.store
    by_chat = {row.meta.link.name: store.checkpoint_ids(row.meta.id) for row in store.list_sessions()}
    assert {chat: len(ids) for chat, ids in by_chat.items()} == {"20261123-10-00-00": 2, "20261123-11-00-00": 1}


def test_a_reply_that_ends_after_the_user_switched_chats_goes_to_its_own_chat(textgen) -> None:
    """Issue 20.6 (textgen 4.9 keeps writing a chat the user has left): the reply is saved into the session
    of the chat it started in, and the chat the user views now is left as it is."""
    from textgen_harness.textgen_calls import chat_reply, chatbot_wrapper

    from session_manager.hosts.textgen.chat_replies import chat_link

    ext = load_extension(textgen)
    workspace, store = ext._runtime.workspace, ext._runtime.recorder.store
    chat_reply(ext, "chat B's question", chat_state("20261123-11-00-00"), ["B's answer"])
    saved(ext)
    steps = chatbot_wrapper(ext, "A long story, please", chat_state("20261123-10-00-00"), ["Once", " upon", " a time"],
                            for_ui=True)
    next(steps), next(steps)
    workspace.follow(None, "chat", chat_link("20261123-11-00-00", "Assistant", "chat"))  # the user clicks chat B
    page = workspace.page(None, "chat")
    shown_before = page.content
    list(steps)  # A's reply ends while B is on show
    saved(ext)
    by_chat = {row.meta.link.name: row.meta.id for row in store.list_sessions()}
    a_latest = store.latest_state(by_chat["20261123-10-00-00"])
    assert a_latest.history["internal"][-1] == ["A long story, please", "Once upon a time"]
    assert a_latest.chat.unique_id == "20261123-10-00-00"
    b_checkpoints = store.list_checkpoints(by_chat["20261123-11-00-00"])
    assert [c.history["internal"][-1][0] for c in b_checkpoints] == ["chat B's question"]
    assert page.session_id == by_chat["20261123-11-00-00"] and page.content == shown_before
    assert "chat you left" in page.status


@pytest.mark.parametrize(("loader", "model_class"), [("Transformers", "Gemma3ForCausalLM"),
                                                     ("ExLlamav3", "Exllamav3Model"),
                                                     ("TensorRT-LLM", "TensorRTLLMModel")])
def test_other_loaders_keep_text_parameters_and_model_and_say_why_there_is_no_kv(textgen, monkeypatch, loader,
                                                                                 model_class) -> None:
    """No KV snapshots but llama.cpp's: the checkpoint still holds the text, the parameters and the model, and
    the status line says why it has no KV cache."""
    from modules import loaders
    from textgen_harness.textgen_calls import chat_reply, generate_reply_wrapper

    monkeypatch.setattr(textgen.args, "loader", loader)
    monkeypatch.setattr(textgen.args, "gpu_split", "8,8", raising=False)
    monkeypatch.setitem(loaders.loaders_and_params, loader, ["ctx_size", "gpu_split"])
    monkeypatch.setattr(textgen, "model", type(model_class, (), {})())  # the loader's model object
    monkeypatch.setattr(textgen, "model_name", "gemma-3-270m-it")
    ext = load_extension(textgen)
    shown = generate_reply_wrapper(ext, "Once", page_state(**{"textbox-default": "Once"}), [" upon", " a time"],
                                   stop_after=1)
    chat_reply(ext, "Hello", chat_state(), ["Hi there"])
    checkpoints = sorted(saved(ext), key=lambda c: c.created)
    assert [(c.mode, c.kv) for c in checkpoints] == [("default", None), ("chat", None)]
    text, chat = checkpoints
    assert text.output_text == shown == "Once upon" and chat.history["internal"][-1] == ["Hello", "Hi there"]
    assert text.params == {"temperature": 0.5, "seed": 7} and chat.params["temperature"] == 0.5
    assert text.model.name == "gemma-3-270m-it" and text.model.loader == loader
    assert text.model.settings == {"ctx_size": 2048, "gpu_split": "8,8"}
    for view in ("text", "chat"):
        status = ext._runtime.workspace.page(None, view).status
        assert f"no KV snapshot: textgen's {loader} loader gives no way to save its KV cache" in status, status
        assert "llama.cpp loader" in status


def test_a_stopped_reply_is_saved_before_the_next_message_is_read(textgen) -> None:
    """Issue 20.5: a message sent right after a Stop; the stopped reply is saved at once (with its KV cache,
    before the engine reads the next prompt), not after the next reply has ended."""
    from modules import models
    from textgen_harness.textgen_calls import chatbot_wrapper

    ext = load_extension(textgen)
    store = ext._runtime.recorder.store
    state = chat_state()
    *_, state["history"] = chatbot_wrapper(ext, "First", state, ["One", " two", " three"], stop_after=1, for_ui=True)
    second = chatbot_wrapper(ext, "Second", state, ["Next"], for_ui=True)
    next(second)  # the next message's history_modifier has run
    models.active_generation_count += 1  # and the engine now reads its prompt
    try:
        saved_now = [c.history["internal"][-1] for row in store.list_sessions() for c in store.list_checkpoints(row.id)]
    finally:
        models.active_generation_count -= 1
    list(second)
    assert saved_now == [["First", "One"]]
    assert sorted(len(c.history["internal"]) for c in saved(ext)) == [1, 2]
