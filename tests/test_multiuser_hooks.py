"""textgen's --multi-user mode with logins, driven as textgen and Gradio drive it: each user's page events and
generations run with that page's real ``gr.Request`` in Gradio's event context, and land in that user's store."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import gradio as gr
import pytest
from factories import typed
from gradio.utils import get_function_with_locals
from test_textgen_hooks import load_extension, page_state, textgen  # noqa: F401  (the fixture)

from session_manager.recording.page_mirror import page_id
from session_manager.store.users import user_root

ALICE = gr.Request(username="alice", session_hash="tab-alice")
BOB = gr.Request(username="bob", session_hash="tab-bob")


def in_event(request: gr.Request, fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn`` as Gradio runs an event function of the page that sent ``request``."""
    return get_function_with_locals(fn, None, None, True, request, None)(*args)


def generation(request: gr.Request, ext: ModuleType, prompt: str, tokens: list[str],
               stop_after: int | None = None) -> Iterator[str]:
    """A Default-view generation as Gradio streams it: each step runs in the page's event context."""
    from textgen_harness.textgen_calls import page_generation

    state = page_state(**{"textbox-default": prompt})
    return get_function_with_locals(page_generation, None, None, True, request, None)(
        ext, prompt, state, tokens, stop_after)


@pytest.fixture
def multi(textgen: ModuleType) -> Iterator[ModuleType]:  # noqa: F811
    textgen.args.multi_user = True
    textgen.args.gradio_auth = "alice:pw1,bob:pw2"
    yield textgen
    ext = __import__("sys").modules.get("user_ext_session_manager")
    if ext is not None and ext._runtime is not None and ext._runtime.multi is not None:
        for _, runtime in ext._runtime.multi.users:
            runtime.generations.wait(10)
            runtime.chats.wait(10)
            runtime.recorder.timer.stop()
    del textgen.args.gradio_auth


def user(ext: ModuleType, login: str) -> Any:
    runtime = ext._runtime.multi.users.get(login)
    runtime.generations.wait(10)
    runtime.chats.wait(10)
    return runtime


def texts(ext: ModuleType, login: str) -> list[str]:
    store = user(ext, login).recorder.store
    return [c.text for row in store.list_sessions() for c in store.list_checkpoints(row.meta.id)]


def test_each_users_generation_is_saved_in_their_own_store(multi: ModuleType) -> None:
    ext = load_extension(multi)
    root = multi.user_data_dir / "session_manager"
    list(generation(ALICE, ext, "Alice's secret:", [" roses"]))
    list(generation(BOB, ext, "Bob's plan:", [" tulips"]))
    assert texts(ext, "alice") == ["Alice's secret: roses"]
    assert texts(ext, "bob") == ["Bob's plan: tulips"]
    assert user(ext, "alice").root == user_root(root, "alice") != user(ext, "bob").root
    assert not (root / "sessions").exists()  # nothing in a store everyone would share


def test_generations_that_overlap_are_kept_apart(multi: ModuleType) -> None:
    """Alice's generation streams while Bob generates (a parallel engine): each step runs in its own event."""
    ext = load_extension(multi)
    alice = generation(ALICE, ext, "Alice:", [" one", " two", " three"])
    next(alice), next(alice)
    list(generation(BOB, ext, "Bob:", [" four"]))
    list(alice)
    assert texts(ext, "alice") == ["Alice: one two three"] and texts(ext, "bob") == ["Bob: four"]


def test_a_request_without_a_name_belongs_to_the_login_its_tab_had(multi: ModuleType) -> None:
    ext = load_extension(multi)
    in_event(ALICE, ext._runtime.multi.current_login)  # the page's load event named its user
    list(generation(gr.Request(session_hash="tab-alice"), ext, "Tab only:", [" still Alice's"]))
    assert texts(ext, "alice") == ["Tab only: still Alice's"]


def test_api_calls_and_nameless_tabs_record_nothing(multi: ModuleType) -> None:
    from textgen_harness.textgen_calls import api_completion

    ext = load_extension(multi)
    api_completion(ext, "API prompt", page_state(), [" x"])
    list(generation(gr.Request(session_hash="stranger"), ext, "Who?", [" nobody"]))
    assert not (multi.user_data_dir / "session_manager" / "users").exists()


def test_stop_pressed_by_another_user_is_said_on_the_stopped_users_status_line(multi: ModuleType) -> None:
    ext = load_extension(multi)
    multi_user = ext._runtime.multi
    alice = generation(ALICE, ext, "Alice:", [" a", " b", " c", " d"], stop_after=2)
    next(alice)
    in_event(BOB, lambda: multi_user.stops.pressed(multi_user.current_login()))  # Bob's Stop button
    list(alice)
    page = user(ext, "alice").recorder.page(page_id("tab-alice", "text"))
    assert "Saved on stop" in page.status and "Another user pressed Stop" in page.status
    list(generation(BOB, ext, "Bob:", [" e"]))  # Bob's own later generation: his Stop was before it
    assert "Another user" not in user(ext, "bob").recorder.page(page_id("tab-bob", "text")).status


def test_your_own_stop_is_no_news(multi: ModuleType) -> None:
    ext = load_extension(multi)
    multi_user = ext._runtime.multi
    alice = generation(ALICE, ext, "Alice:", [" a", " b", " c"], stop_after=1)
    next(alice)
    in_event(ALICE, lambda: multi_user.stops.pressed(multi_user.current_login()))
    list(alice)
    assert "Another user" not in user(ext, "alice").recorder.page(page_id("tab-alice", "text")).status


def test_without_logins_each_tab_records_into_its_own_store_in_memory(textgen: ModuleType) -> None:  # noqa: F811
    """--multi-user without logins: each browser tab is kept apart, nothing reaches the disk, the panel says
    why, and a closed tab's sessions are gone."""
    from session_manager.hosts.textgen.multiuser import MEMORY_FOLDERS, TAB_ONLY, close_tab

    textgen.args.multi_user = True
    ext = load_extension(textgen)
    first, second = gr.Request(session_hash="tab-one"), gr.Request(session_hash="tab-two")
    list(generation(first, ext, "The first tab's draft:", [" one"]))
    list(generation(second, ext, "The second tab's draft:", [" two"]))
    multi = ext._runtime.multi
    runtimes = {tab: multi.users.get(f"tab:{tab}") for tab in ("tab-one", "tab-two")}
    for runtime in runtimes.values():
        runtime.generations.wait(10)
    texts = {tab: [c.text for row in r.recorder.store.list_sessions() for c in r.recorder.store.list_checkpoints(
        row.meta.id)] for tab, r in runtimes.items()}
    assert texts == {"tab-one": ["The first tab's draft: one"], "tab-two": ["The second tab's draft: two"]}
    assert not (textgen.user_data_dir / "session_manager").exists()
    assert textgen.args.extra_flags is None  # no KV snapshots: llama-server is left as it is
    memory = [folder for folder in MEMORY_FOLDERS if folder.is_dir()]
    assert all(memory[0] in r.root.parents for r in runtimes.values()) if memory else True
    fresh = gr.Request(session_hash="tab-three")
    assert in_event(fresh, lambda: multi.current().workspace.state("tab-three").status) == TAB_ONLY
    closed_root = runtimes["tab-one"].root
    in_event(first, lambda: close_tab(multi, multi.current_login()))  # what closing the tab runs
    assert not closed_root.exists() and runtimes["tab-two"].root.exists()
    assert multi.users.get("tab:tab-one").recorder.store.list_sessions() == []


def test_a_users_workspace_sees_only_their_sessions(multi: ModuleType, tmp_path: Path) -> None:
    ext = load_extension(multi)
    alice, bob = user(ext, "alice").workspace, user(ext, "bob").workspace
    typed(alice.page("tab-alice"), "Alice's diary")
    alice.save("tab-alice")
    secret = alice.page("tab-alice").session_id
    assert bob.state("tab-bob").sessions == []
    bob.select_session("tab-bob", secret)  # guessing Alice's session id
    assert "Warning" in bob.page("tab-bob").status and bob.page("tab-bob").session_id is None


def test_the_administrators_summary_counts_every_store_and_shows_no_text(multi: ModuleType) -> None:
    from session_manager.hosts.textgen.admin import NOT_ADMIN, admin_summary

    multi.settings["session_manager-admin_logins"] = ["carol"]
    ext = load_extension(multi)
    list(generation(ALICE, ext, "Alice's secret:", [" roses"]))
    list(generation(BOB, ext, "Bob's plan:", [" tulips"]))
    list(generation(BOB, ext, "Bob's plan: tulips", [" and more"]))
    user(ext, "alice"), user(ext, "bob")
    carol = gr.Request(username="carol", session_hash="tab-carol")
    summary = in_event(carol, admin_summary, ext._runtime.multi)
    alice_row = next(line for line in summary.splitlines() if line.startswith("| alice |"))
    bob_row = next(line for line in summary.splitlines() if line.startswith("| bob |"))
    assert "| 1 | 1 |" in alice_row and "| 1 | 2 |" in bob_row
    assert "secret" not in summary and "tulips" not in summary
    assert in_event(ALICE, admin_summary, ext._runtime.multi) == NOT_ADMIN
    assert not (multi.user_data_dir / "session_manager" / "users" / user_root(Path("."), "carol").name).exists()


def test_chats_without_a_textgen_id_are_saved_per_page_for_their_user(multi: ModuleType) -> None:
    """Under --multi-user textgen gives a chat no id and saves nothing: each page's chat is a session."""
    from test_textgen_hooks import chat_state
    from textgen_harness.textgen_calls import chat_reply

    ext = load_extension(multi)
    alice_state, bob_state = chat_state(unique_id=""), chat_state(unique_id="")
    in_event(ALICE, chat_reply, ext, "Alice asks", alice_state, [" an answer"])
    in_event(ALICE, chat_reply, ext, "and more", alice_state, [" another"])
    in_event(BOB, chat_reply, ext, "Bob asks", bob_state, [" his answer"])
    in_event(gr.Request(username="alice", session_hash="tab-alice-2"), chat_reply, ext, "New page", chat_state(""),
             [" fresh"])
    alice, bob = user(ext, "alice").recorder.store, user(ext, "bob").recorder.store
    first_turns = {row.meta.name: [c.history["internal"][0][0] for c in alice.list_checkpoints(row.meta.id)]
                   for row in alice.list_sessions()}
    assert sorted(map(sorted, first_turns.values())) == [["Alice asks", "Alice asks"], ["New page"]]
    bob_chats = [c.history for row in bob.list_sessions() for c in bob.list_checkpoints(row.meta.id)]
    assert [h["internal"] for h in bob_chats] == [[["Bob asks", " his answer"]]]


def test_incognito_chats_stay_unsaved_in_multi_user_mode(multi: ModuleType) -> None:
    from test_textgen_hooks import chat_state
    from textgen_harness.textgen_calls import chat_reply

    ext = load_extension(multi)
    in_event(ALICE, chat_reply, ext, "secret", chat_state("incognito-20261123-10-00-00"), ["shh"])
    assert texts(ext, "alice") == []


def test_a_stop_noted_a_moment_after_the_generation_ended_is_still_the_other_users() -> None:
    """textgen's Stop and the note of who pressed it are two requests of one click: the note may come later."""
    from session_manager.hosts.textgen.multiuser import StopPresses

    presses = StopPresses()
    began = time.monotonic() - 5
    presses.pressed("bob")  # noted half a second after Alice's generation had ended
    assert presses.by_another("alice", began, time.monotonic() - 0.5)
    assert not presses.by_another("bob", began, time.monotonic() - 0.5)
    assert not presses.by_another("alice", began, time.monotonic() - 3), "a press long after the end is not hers"
