from __future__ import annotations

import threading
import time

from session_manager.models import ModelInfo
from session_manager.recorder import Recorder
from session_manager.settings import SettingsManager, load_shipped
from session_manager.store import SessionStore

PARAMS = {"temperature": 0.42, "top_p": 0.9, "seed": 1234, "a_slider_added_later": 3}


def test_manual_checkpoint_keeps_text_params_model_and_trigger(recorder: Recorder, host) -> None:
    recorder.update_page(mode="default", input_text="Prompt", output_text="Prompt and more", params=PARAMS)
    cp = recorder.checkpoint("manual", label="v1")
    saved = recorder.store.get_checkpoint(recorder.session_id, cp.id)
    assert (saved.input_text, saved.output_text, saved.label, saved.trigger) == ("Prompt", "Prompt and more", "v1",
                                                                                 "manual")
    assert saved.params == PARAMS and saved.seed == 1234
    assert saved.model == host.current
    assert "Checkpoint saved" in recorder.status.text


def test_save_on_stop_writes_the_exact_final_text(recorder: Recorder) -> None:
    recorder.update_page(input_text="Tell me", output_text="Tell me a st")  # the stream was cut here
    cp = recorder.generation_finished("Tell me", "Tell me a story & <more>")
    assert cp is not None and cp.trigger == "stop"
    assert recorder.store.get_checkpoint(recorder.session_id, cp.id).output_text == "Tell me a story & <more>"


def test_save_on_stop_can_be_turned_off(recorder: Recorder) -> None:
    recorder.settings.set("save_on_stop", False)
    assert recorder.generation_finished("a", "ab") is None
    assert recorder.page.output_text == "ab"


def test_autosave_tick_writes_only_when_something_changed(recorder: Recorder) -> None:
    assert recorder.autosave_tick() is False  # empty page: nothing to keep
    recorder.update_page(input_text="draft")
    assert recorder.autosave_tick() is True
    assert recorder.autosave_tick() is False
    recorder.update_page(input_text="draft 2")
    assert recorder.autosave_tick() is True
    assert recorder.store.read_autosave(recorder.session_id).input_text == "draft 2"


def test_autosave_timer_thread_saves_exactly_what_is_on_screen(recorder: Recorder) -> None:
    """The real timer thread, while text streams in: no lag of even one token."""
    recorder.settings.set("autosave_interval", 5)
    recorder.update_page(input_text="Once", output_text="Once")
    seen: list[tuple[str, str]] = []
    original = recorder.store.write_autosave

    def spy(session_id, snapshot):
        seen.append((snapshot.output_text, recorder.page.output_text))
        return original(session_id, snapshot)

    recorder.store.write_autosave = spy
    recorder.start_autosave()
    stop_at = time.monotonic() + 5.6
    text = "Once"
    while time.monotonic() < stop_at:  # a token every 2 ms, across the timer's first tick
        text += " tok"
        recorder.update_page(output_text=text)
        time.sleep(0.002)
    final = text
    time.sleep(5.2)  # the next tick finds the finished text
    recorder.stop_autosave()
    assert seen, "the timer never wrote"
    assert recorder.store.read_autosave(recorder.session_id).output_text == final
    # Each write held the text of the page at that moment (taken under the recorder's lock).
    for saved, _on_screen in seen:
        assert final.startswith(saved)


def fresh_recorder(store: SessionStore, host) -> Recorder:
    """A recorder as after a restart: settings read again from the store."""
    settings = SettingsManager(load_shipped())
    settings.attach_store(store.root)
    return Recorder(store, settings, host)


def test_boot_loads_the_last_session_from_its_newest_state(store: SessionStore, host) -> None:
    first = fresh_recorder(store, host)
    first.update_page(input_text="old work")
    first.checkpoint()
    chosen = first.session_id
    first.new_session(name="another")
    first.update_page(input_text="another one")
    first.checkpoint()
    first.select_session(chosen)
    first.update_page(input_text="old work, typed on")
    first.autosave_tick()

    second = fresh_recorder(store, host)
    latest = second.boot()
    assert second.session_id == chosen
    assert latest.input_text == "old work, typed on"
    assert second.page.input_text == "old work, typed on"
    assert "Loaded" in second.status.text


def test_boot_newest_and_off(store: SessionStore, host) -> None:
    rec = fresh_recorder(store, host)
    settings = rec.settings
    rec.update_page(input_text="a")
    rec.checkpoint()
    first = rec.session_id
    rec.new_session(name="b")
    rec.update_page(input_text="b")
    rec.checkpoint()
    rec.select_session(first)
    settings.set("auto_load", "newest")
    fresh = Recorder(store, settings, host)
    assert fresh.boot().input_text == "b"
    settings.set("auto_load", "off")
    assert Recorder(store, settings, host).boot() is None


def test_auto_session_starts_a_new_session_for_a_new_prompt(recorder: Recorder) -> None:
    recorder.settings.set("auto_session", True)
    recorder.update_page(input_text="A story about a lighthouse", output_text="A story about a lighthouse. It")
    recorder.checkpoint()
    first = recorder.session_id
    assert recorder.generation_started("A story about a lighthouse. It was dark", "default") is None
    assert recorder.session_id == first
    new = recorder.generation_started("Write a haiku about autumn leaves", "default")
    assert new is not None and new != first
    assert len(recorder.store.list_sessions()) == 2


def test_auto_session_is_off_by_default(recorder: Recorder) -> None:
    recorder.update_page(input_text="first prompt")
    recorder.checkpoint()
    assert recorder.generation_started("something else entirely", "default") is None
    assert len(recorder.store.list_sessions()) == 1


def test_restore_brings_back_text_and_params_and_loads_the_model_when_asked(recorder: Recorder, host) -> None:
    recorder.update_page(input_text="keep me", output_text="keep me please", params=PARAMS)
    cp = recorder.checkpoint()
    recorder.update_page(input_text="overwritten", output_text="", params={"temperature": 1.5})
    host.current = ModelInfo(name="other.gguf", loader="llama.cpp", settings={"ctx_size": 8192})

    result = recorder.restore(recorder.session_id, cp.id, load_model=False)
    assert recorder.page.input_text == "keep me" and recorder.page.params == PARAMS
    assert host.loaded == []
    result = recorder.restore(recorder.session_id, cp.id, load_model=True)
    assert [m.name for m in host.loaded] == ["tiny.gguf"]
    assert host.loaded[0].settings == {"ctx_size": 2048}
    assert any("Loaded" in m for m in result.messages)
    recorder.restore(recorder.session_id, cp.id, load_model=True)
    assert len(host.loaded) == 1  # same model: nothing reloaded


def test_checkpoint_during_generation_skips_kv_but_keeps_text(recorder: Recorder, host) -> None:
    recorder.settings.set("kv_snapshots", "always")
    host.generating = True
    recorder.update_page(input_text="x")
    cp = recorder.checkpoint()
    assert cp.kv is None


def test_concurrent_updates_and_checkpoints_lose_nothing(recorder: Recorder) -> None:
    recorder.update_page(input_text="start")
    recorder.checkpoint()

    def writer(n: int) -> None:
        for i in range(20):
            recorder.update_page(output_text=f"{n}-{i}")
            recorder.checkpoint()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(recorder.store.checkpoint_ids(recorder.session_id)) == 81
    assert recorder.store.problems == []


def test_text_typed_while_a_stop_save_waits_is_still_autosaved(recorder: Recorder) -> None:
    """The stop checkpoint is written after the engine is idle; what was typed meanwhile is not lost."""
    import threading

    idle = threading.Event()
    recorder.generation_finished("Prompt", "Prompt and the answer", wait_until_idle=idle.wait)
    recorder.update_page(output_text="Prompt and the answer, edited by hand")
    idle.set()
    recorder.wait_for_background()
    (stop,) = recorder.store.list_checkpoints(recorder.session_id)
    assert stop.output_text == "Prompt and the answer"
    assert recorder.autosave_tick() is True
    assert recorder.store.read_autosave(recorder.session_id).output_text == "Prompt and the answer, edited by hand"
