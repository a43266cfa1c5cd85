"""The recorder: pages of browser tabs turned into sessions, checkpoints, autosaves and restores."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from factories import TextOnlyHost, content, make_recorder, typed

from session_manager.models import HostLink, ModelInfo
from session_manager.recording.page_mirror import Page, PageContent
from session_manager.recording.recorder import Recorder

PARAMS = {"temperature": 0.42, "top_p": 0.9, "seed": 1234, "a_slider_added_later": 3}


def test_manual_checkpoint_keeps_text_params_model_and_trigger(recorder: Recorder, page: Page, host) -> None:
    typed(page, "Prompt", "Prompt and more", params=PARAMS)
    cp = recorder.checkpoint(page, "manual", label="v1")
    saved = recorder.store.get_checkpoint(page.session_id, cp.id)
    assert (saved.input_text, saved.output_text, saved.label, saved.trigger) == ("Prompt", "Prompt and more", "v1",
                                                                                 "manual")
    assert saved.params == PARAMS and saved.seed == 1234
    assert saved.model == host.current
    assert page.status.startswith("Checkpoint saved at ")


def test_save_on_stop_writes_the_exact_final_text(recorder: Recorder, page: Page) -> None:
    typed(page, "Tell me", "Tell me a st")  # the stream was cut here on screen
    cp = recorder.generation_finished(page, content("Tell me", "Tell me a story & <more>"))
    assert cp is not None and cp.trigger == "stop"
    assert recorder.store.get_checkpoint(page.session_id, cp.id).output_text == "Tell me a story & <more>"
    assert page.status.startswith("Saved on stop at ")


def test_save_on_stop_can_be_turned_off(recorder: Recorder, page: Page) -> None:
    recorder.settings.set("save_on_stop", False)
    assert recorder.generation_finished(page, content("a", "ab")) is None
    assert page.content.output_text == "ab" and recorder.store.list_sessions() == []


def test_autosave_writes_only_what_differs_from_the_last_save(recorder: Recorder, page: Page) -> None:
    assert recorder.autosave(page) is False  # empty page: nothing to keep
    typed(page, "draft")
    assert recorder.autosave(page) is True
    assert recorder.autosave(page) is False
    page.update_param("temperature", 0.3, by_user=True)  # a parameter alone is a change too
    assert recorder.autosave(page) is True
    assert recorder.store.read_autosave(page.session_id).params == {"temperature": 0.3}



def test_an_autosave_of_the_same_text_is_written_for_other_parameters_or_another_model(recorder: Recorder,
                                                                                       page: Page) -> None:
    typed(page, "draft")
    recorder.autosave(page)
    store, session_id = recorder.store, page.session_id
    same = PageContent.of(store.read_autosave(session_id))
    model = ModelInfo(name="tiny.gguf", loader="llama.cpp", settings={"ctx_size": 2048})
    assert store.write_autosave(session_id, same.to_checkpoint("autosave", model)) is False
    other_params = PageContent("default", "draft", "", None, {"temperature": 1.3})
    assert store.write_autosave(session_id, other_params.to_checkpoint("autosave", model)) is True
    assert store.write_autosave(session_id, other_params.to_checkpoint("autosave", ModelInfo(name="big.gguf")))
    typed(page, "draft 2")
    assert recorder.autosave(page) is True
    assert recorder.store.read_autosave(page.session_id).input_text == "draft 2"


def test_no_autosave_duplicates_a_stop_checkpoint(recorder: Recorder, page: Page) -> None:
    typed(page, "Q", "Q and a streamed answer so f")
    recorder.generation_finished(page, content("Q", "Q and a streamed answer so far."))
    page.update(output_text="Q and a streamed answer so far.")  # the page's last change event arrives late
    assert recorder.autosave(page) is False
    assert recorder.store.read_autosave(page.session_id) is None


def test_the_timer_leaves_a_page_to_its_generations_save(recorder: Recorder, page: Page) -> None:
    """Issue 7.7: a tick as a generation ends would autosave the final text the stop checkpoint then repeats."""
    typed(page, "Q")
    recorder.generation_started(page, "Q", "default")
    assert recorder.store.read_autosave(page.session_id).input_text == "Q"  # what the user wrote, kept first
    typed(page, "Q", "Q and the whole answer.")  # the last streamed text reaches the page before the stop save
    recorder.autosave_all()
    assert recorder.store.read_autosave(page.session_id).output_text == ""
    stopped = recorder.generation_finished(page, content("Q", "Q and the whole answer."))
    assert stopped is not None and not recorder.store.read_autosave(page.session_id).same_content(stopped)
    typed(page, "Q", "Q and the whole answer. Edited.")
    recorder.autosave_all()  # after the generation the timer saves again
    assert recorder.store.read_autosave(page.session_id).output_text == "Q and the whole answer. Edited."


def test_a_shutdown_during_a_generation_keeps_what_it_wrote(recorder: Recorder, page: Page) -> None:
    typed(page, "Q")
    recorder.generation_started(page, "Q", "default")
    typed(page, "Q", "Q and half an ans")
    recorder.stop()
    assert recorder.store.read_autosave(page.session_id).output_text == "Q and half an ans"


def test_a_new_prompts_session_is_the_last_word_on_the_status_line(recorder: Recorder, page: Page) -> None:
    recorder.settings.set("auto_session", True)
    typed(page, "A story about a lighthouse")
    recorder.checkpoint(page)
    typed(page, "Write a haiku about autumn leaves")
    recorder.generation_started(page, "Write a haiku about autumn leaves", "default")
    assert recorder.store.read_autosave(page.session_id).input_text == "Write a haiku about autumn leaves"
    assert page.status == "The prompt changed: started a new session."


def test_opening_a_page_makes_no_session(recorder: Recorder, host) -> None:
    """What a page load puts into the boxes is not the user's work: no session, no autosave."""
    host.loads = {"The three primary colors are"}  # textgen's leftover prompt
    page = recorder.page("new-tab")
    page.update(input_text="The three primary colors are", output_text="")
    page.update(mode="default", params={"temperature": 0.7})
    recorder.autosave_all()
    assert recorder.store.list_sessions() == []
    typed(page, "The three primary colors are red")
    recorder.autosave_all()
    (row,) = recorder.store.list_sessions()
    assert recorder.store.read_autosave(row.meta.id).input_text == "The three primary colors are red"


def test_typing_is_an_edit_whichever_event_arrives_first(recorder: Recorder, host) -> None:
    """The box's change event may reach the server before its input event: the typed text is still unsaved."""
    host.loads = {"In this story,"}
    page = recorder.page("tab")
    page.update(input_text="In this story,")  # the page load
    page.update(input_text="A letter typed by hand.")  # the change event of the typing...
    page.update(by_user=True, input_text="A letter typed by hand.")  # ...and its input event, later
    assert page.dirty and recorder.autosave(page)


def test_text_typed_during_an_autosave_write_is_not_marked_saved(recorder: Recorder, page: Page) -> None:
    typed(page, "first words")
    original = recorder.store.write_autosave

    def slow_write(session_id, snapshot):
        typed(page, "first words and more")  # the user types while the file is written
        return original(session_id, snapshot)

    recorder.store.write_autosave = slow_write  # type: ignore[method-assign]
    assert recorder.autosave(page)
    recorder.store.write_autosave = original  # type: ignore[method-assign]
    assert page.dirty
    assert recorder.autosave(page)
    assert recorder.store.read_autosave(page.session_id).input_text == "first words and more"


def test_two_tabs_keep_their_own_pages_and_status(recorder: Recorder) -> None:
    a, b = recorder.page("tab-a"), recorder.page("tab-b")
    typed(a, "written in tab A")
    recorder.autosave_all()
    typed(b, "written in tab B")
    recorder.autosave_all()
    assert a.session_id != b.session_id
    assert recorder.store.read_autosave(a.session_id).input_text == "written in tab A"
    assert recorder.store.read_autosave(b.session_id).input_text == "written in tab B"
    typed(b, "tab B goes on")
    status_a = a.status
    recorder.autosave_all()
    assert a.status == status_a, "tab A's status must not claim tab B's save"
    assert b.status.startswith("Autosaved at ")


def test_a_session_follows_the_host_link(recorder: Recorder) -> None:
    link = HostLink(kind="textgen-prompt", name="story")
    page = recorder.page("tab")
    page.link = link
    typed(page, "Once")
    recorder.autosave(page)
    first = page.session_id
    assert recorder.store.get_session(first).link == link
    other = recorder.page("other-tab")
    other.link = link
    typed(other, "Once more")
    recorder.autosave(other)
    assert other.session_id == first  # the same textgen prompt: the same session


def test_autosave_timer_thread_saves_exactly_what_is_on_screen(recorder: Recorder, page: Page) -> None:
    """The real timer thread while text streams in: each autosave on disk is the page exactly as shown, not
    a token behind. A tick and a token never overlap here (the race of typing during a write has its own
    test), so what was on screen when a tick began is known exactly."""
    interval = 5
    recorder.settings.set("autosave_interval", interval)
    shown = ["Once"]
    typed(page, "Once", shown[-1])
    screen = threading.Lock()  # held by the typist for one token, by a tick for one autosave
    written: list[tuple[str, str]] = []  # (on disk, on screen when the tick began)
    original = recorder.autosave

    def autosave_between_tokens(tab_page: Page) -> bool:
        with screen:
            on_screen = shown[-1]
            wrote = original(tab_page)
            if wrote:
                written.append((recorder.store.read_autosave(tab_page.session_id).output_text, on_screen))
            return wrote

    recorder.autosave = autosave_between_tokens  # type: ignore[method-assign]
    recorder.start()
    deadline = time.monotonic() + interval + 0.6
    while time.monotonic() < deadline or not written:  # a token every 2 ms, across the timer's first tick
        with screen:
            shown.append(shown[-1] + " tok")
            typed(page, "Once", shown[-1])
        time.sleep(0.002)
    streamed = len(written)
    quiet = time.monotonic() + 3 * interval
    while len(written) == streamed and time.monotonic() < quiet:
        time.sleep(0.1)  # the stream has ended: the next tick saves the finished text
    recorder.timer.stop()
    assert len(written) > streamed, "no autosave after the stream ended"
    assert len(shown) > 100 and written[-1][1] == shown[-1]
    for on_disk, on_screen in written:
        assert on_disk == on_screen


def test_boot_brings_back_the_last_session_from_its_newest_state(tmp_path: Path) -> None:
    host = TextOnlyHost()
    first = make_recorder(tmp_path, host)
    page = first.page("tab")
    typed(page, "old work")
    first.checkpoint(page)
    chosen = page.session_id
    first.new_session(page, name="another")
    typed(page, "another one")
    first.checkpoint(page)
    first.select_session(page, chosen)
    typed(page, "old work, typed on")
    first.autosave(page)

    second = make_recorder(tmp_path, host)
    latest = second.boot()
    assert latest is not None and latest.input_text == "old work, typed on"
    new_tab = second.page("a-new-tab")
    assert new_tab.session_id == chosen and new_tab.content.input_text == "old work, typed on"
    assert not new_tab.dirty and new_tab.status.startswith("Loaded “")


def test_boot_newest_and_off(tmp_path: Path) -> None:
    rec = make_recorder(tmp_path)
    page = rec.page("tab")
    typed(page, "a")
    rec.checkpoint(page)
    first = page.session_id
    rec.new_session(page, name="b")
    typed(page, "b")
    rec.checkpoint(page)
    rec.select_session(page, first)
    assert make_recorder(tmp_path, auto_load="newest").boot().input_text == "b"
    assert make_recorder(tmp_path, auto_load="last").boot().input_text == "a"
    assert make_recorder(tmp_path, auto_load="off").boot() is None


def test_auto_session_starts_a_new_session_for_a_new_prompt(recorder: Recorder, page: Page) -> None:
    recorder.settings.set("auto_session", True)
    typed(page, "A story about a lighthouse", "A story about a lighthouse. It")
    recorder.checkpoint(page)
    first = page.session_id
    recorder.generation_started(page, "A story about a lighthouse. It was dark", "default")
    assert page.session_id == first
    recorder.generation_started(page, "Write a haiku about autumn leaves", "default")
    assert page.session_id not in (None, first)
    assert len(recorder.store.list_sessions()) == 2


def test_auto_session_is_off_by_default(recorder: Recorder, page: Page) -> None:
    typed(page, "first prompt")
    recorder.checkpoint(page)
    recorder.generation_started(page, "something else entirely", "default")
    assert len(recorder.store.list_sessions()) == 1


def test_restore_brings_back_the_chosen_checkpoint_with_params_and_model(recorder: Recorder, page: Page,
                                                                          host: TextOnlyHost) -> None:
    typed(page, "keep me", "keep me please", params=PARAMS)
    older = recorder.checkpoint(page)
    typed(page, "newer", "newer text", params={"temperature": 1.5})
    newer = recorder.checkpoint(page)
    host.current = ModelInfo(name="other.gguf", loader="llama.cpp", settings={"ctx_size": 8192})

    result = recorder.restore(page, page.session_id, older, load_model=False)
    assert page.content == PageContent.of(older) and page.content.params == PARAMS
    assert host.loaded == [] and host.restored == [("tab-a", older.id)]
    assert result.checkpoint.id == older.id != newer.id
    result = recorder.restore(page, page.session_id, older, load_model=True)
    assert [m.name for m in host.loaded] == ["tiny.gguf"] and host.loaded[0].settings == {"ctx_size": 2048}
    assert result.model_loaded == "tiny.gguf" and any("Loaded" in m for m in result.messages)
    recorder.restore(page, page.session_id, older, load_model=True)
    assert len(host.loaded) == 1  # the same model: nothing is reloaded


def test_after_a_restore_a_restart_brings_back_the_restored_text(recorder: Recorder, page: Page,
                                                                  tmp_path: Path) -> None:
    typed(page, "the old version")
    older = recorder.checkpoint(page)
    typed(page, "the new version")
    recorder.checkpoint(page)
    typed(page, "the new version, typed on")  # not saved yet when the user restores
    recorder.restore(page, page.session_id, older)
    again = make_recorder(recorder.store.root)
    assert again.boot().input_text == "the old version"
    # What was on screen before the restore is kept in the autosave history (undo reaches it).
    history = [a.input_text for a in recorder.store.autosaves(page.session_id)]
    assert history[:2] == ["the old version", "the new version, typed on"]


def test_checkpoint_during_generation_skips_kv_but_keeps_text(recorder: Recorder, page: Page, host) -> None:
    host.generating = True
    typed(page, "x")
    cp = recorder.checkpoint(page)
    assert cp.kv is None and recorder.store.get_checkpoint(page.session_id, cp.id).input_text == "x"


def test_concurrent_updates_and_checkpoints_lose_nothing(recorder: Recorder, page: Page) -> None:
    typed(page, "start")
    recorder.checkpoint(page)

    def writer(n: int) -> None:
        for i in range(20):
            typed(page, "start", f"{n}-{i}")
            recorder.checkpoint(page)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(recorder.store.checkpoint_ids(page.session_id)) == 81
    assert recorder.store.problems == []
