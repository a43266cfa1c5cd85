"""Sessions as the extension records them, for the export tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from session_manager.kvstate import write_blob
from session_manager.models import (
    ChatContext,
    Checkpoint,
    CheckpointMark,
    KVRef,
    ModelFingerprint,
    ModelInfo,
    SessionMarks,
    new_checkpoint_id,
)
from session_manager.store import SessionStore

from .foreign import textgen_history

MODEL = ModelInfo(name="gemma-3-270m-q4_k_m.gguf", loader="llama.cpp", settings={"ctx_size": 4096})
FINGERPRINT = ModelFingerprint(file_name="gemma-3-270m-q4_k_m.gguf", file_size=253_000_000, sample_hash="ab12",
                               n_ctx=4096)
START = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def at(minutes: int) -> datetime:
    return START + timedelta(minutes=minutes)


def checkpoint(minutes: int, **fields: object) -> Checkpoint:
    created = at(minutes)
    fields = {"model": MODEL, "seed": 7, "params": {"temperature": 0.7, "max_new_tokens": 200}, **fields}
    return Checkpoint(id=new_checkpoint_id(created), created=created, **fields)


def write_marks(store: SessionStore, session_id: str, marks: dict[str, CheckpointMark]) -> None:
    """marks.json as the store keeps it (sessions/<id>/marks.json)."""
    (store.session_dir(session_id) / "marks.json").write_text(SessionMarks(marks=marks).model_dump_json())


def chat_session(store: SessionStore) -> str:
    meta = store.create_session("Aria at the inn")
    store.update_session(meta.id, tags=["fiction"], notes="Where the map first shows up.")
    context = ChatContext(unique_id="20240501-12-00-00", chat_mode="chat", character="Aria", user_name="Ana")
    turns = [("Hi! Who are you?", "I'm Aria."), ("Any <rooms> free?", "One, up the stairs & left.")]
    ids = []
    for n in range(1, 3):
        history = textgen_history(turns[:n], greeting="Welcome, {{user}}!")
        params = {"temperature": 0.7, "context": "{{char}} is an innkeeper who talks to {{user}}."}
        ids.append(store.add_checkpoint(meta.id, checkpoint(n, mode="chat", trigger="stop", history=history,
                                                            chat=context, params=params)).id)
    store.add_checkpoint(meta.id, checkpoint(3, mode="chat", trigger="manual",
                                             history=textgen_history(turns, greeting="Welcome, {{user}}!"),
                                             chat=context, params=params))  # the same text again, by hand
    write_marks(store, meta.id, {ids[0]: CheckpointMark(pinned=True, note="Her first words.", label="hello")})
    return meta.id


def default_session(store: SessionStore, with_kv: bool = True) -> str:
    meta = store.create_session("Lighthouse")
    store.update_session(meta.id, tags=["fiction"])
    prompt = "The keeper climbed"
    store.add_checkpoint(meta.id, checkpoint(10, input_text=prompt, output_text="", trigger="manual"))
    stop = checkpoint(11, input_text=prompt, output_text=prompt + " the stairs.", trigger="stop")
    if with_kv:
        blob = store.kv_path(meta.id, stop.id)
        blob.parent.mkdir(parents=True, exist_ok=True)
        write_blob(blob, backend="llama-cpp-python", fingerprint=FINGERPRINT, token_ids=list(range(12)),
                   state=bytes(range(256)) * 40)
        stop = stop.model_copy(update={"kv": KVRef(file=blob.name, bytes=blob.stat().st_size, n_tokens=12,
                                                   fingerprint=FINGERPRINT.digest(), backend="llama-cpp-python")})
    store.add_checkpoint(meta.id, stop)
    store.write_autosave(meta.id, checkpoint(12, input_text=prompt, output_text=prompt + " the stairs. He",
                                             trigger="autosave"))
    return meta.id


def notebook_session(store: SessionStore) -> str:
    meta = store.create_session("Haiku")
    store.add_checkpoint(meta.id, checkpoint(20, mode="notebook", trigger="stop",
                                             input_text="Snow on the branches\nthe kettle sings"))
    return meta.id
