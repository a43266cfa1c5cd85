"""Routes of checkpoints: list, read, add (a text or a chat), relabel/pin/annotate, delete, and restore."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response

from ..errors import GenerationRunning, NoEngine, NotFound
from ..models import Checkpoint
from ..store import SessionStore
from .context import ApiContext, Engine
from .schemas import CheckpointChange, NewCheckpoint, RestoreRequest, checkpoint_document, checkpoint_row, restored

LATEST = "latest"
NO_ENGINE = ("restoring needs a running model, and this server (`session-manager serve`) holds only the store: "
             "start textgen with --api and --extensions session_manager, and call the same route on its API port")
NO_ENGINE_FOR_KV = ("a KV snapshot needs a running model, and this server (`session-manager serve`) holds only the "
                    "store: send kv_snapshot on textgen's API port, or leave it out; nothing was saved")
GENERATING = "a generation is running: try again once it has ended (or stop it first); nothing was changed"


def add_checkpoint_routes(router: APIRouter, context: ApiContext) -> None:
    base = "/sessions/{session_id}/checkpoints"

    @router.get(base, summary="List a session's checkpoints, newest first")
    def list_checkpoints(session_id: str, limit: int = Query(100, ge=1, le=10_000),
                         offset: int = Query(0, ge=0)) -> dict[str, Any]:
        store = context.store()
        store.get_session(session_id)  # 404 for a session that is not there
        rows = store.checkpoint_summaries(session_id, limit, offset)
        return {"checkpoints": [checkpoint_row(row) for row in rows], "limit": limit, "offset": offset,
                "next_offset": offset + len(rows) if len(rows) == limit else None}

    @router.post(base, status_code=201, summary="Add a checkpoint: a text or a chat, with parameters and model")
    def add_checkpoint(session_id: str, body: NewCheckpoint) -> dict[str, Any]:
        store = context.store()
        store.get_session(session_id)  # 404 before the engine is asked for anything
        checkpoint, note = body.to_checkpoint(), None
        if body.kv_snapshot:
            checkpoint, note = ready_engine(context, NO_ENGINE_FOR_KV).with_snapshot(session_id, checkpoint)
        checkpoint = store.add_checkpoint(session_id, checkpoint)
        return checkpoint_document(checkpoint, None, checkpoint.kv is not None, note)

    @router.get(base + "/{checkpoint_id}", summary='Read a checkpoint ("latest": the session\'s newest state)')
    def read_checkpoint(session_id: str, checkpoint_id: str) -> dict[str, Any]:
        store = context.store()
        checkpoint = find_checkpoint(store, session_id, checkpoint_id)
        mark = store.marks(session_id).marks.get(checkpoint.id)
        return checkpoint_document(checkpoint, mark, store.has_kv(session_id, checkpoint))

    @router.patch(base + "/{checkpoint_id}", summary="Relabel, annotate or pin a checkpoint")
    def change_checkpoint(session_id: str, checkpoint_id: str, body: CheckpointChange) -> dict[str, Any]:
        mark = context.store().set_mark(session_id, checkpoint_id, pinned=body.pinned, note=body.note,
                                        label=body.label)
        return mark.model_dump(mode="json")

    @router.delete(base + "/{checkpoint_id}", status_code=204, summary="Delete a checkpoint")
    def delete_checkpoint(session_id: str, checkpoint_id: str) -> Response:
        context.store().delete_checkpoint(session_id, checkpoint_id)
        return Response(status_code=204)

    @router.post(base + "/{checkpoint_id}/restore",
                 summary="Restore into the running textgen: text, model when asked, KV cache into the engine")
    def restore_checkpoint(session_id: str, checkpoint_id: str, body: RestoreRequest | None = None) -> dict[str, Any]:
        store = context.store()
        checkpoint = find_checkpoint(store, session_id, checkpoint_id)
        result = ready_engine(context, NO_ENGINE).restore(session_id, checkpoint, (body or RestoreRequest()).load_model)
        return restored(session_id, result)


def ready_engine(context: ApiContext, missing: str) -> Engine:
    """The engine, idle: 501 when this process has none, 409 while it generates."""
    engine = context.engine()
    if engine is None:
        raise NoEngine(missing)
    if not engine.is_idle():
        raise GenerationRunning(GENERATING)
    return engine


def find_checkpoint(store: SessionStore, session_id: str, checkpoint_id: str) -> Checkpoint:
    """A checkpoint by id, or with ``latest`` the session's newest state (its autosave when newer)."""
    if checkpoint_id != LATEST:
        return store.get_checkpoint(session_id, checkpoint_id)
    latest = store.latest_state(store.get_session(session_id).id)
    if latest is None:
        raise NotFound(f"session {session_id} has nothing saved yet")
    return latest
