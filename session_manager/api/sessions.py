"""Routes of sessions: list (search, filters, pages), create, read, change (name, tags, notes, pin), delete."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Response

from ..models import Mode, SessionMeta
from ..store import SessionStore, SessionSummary
from .context import ApiContext
from .schemas import NewSession, SessionChange

MAX_PAGE = 1000


def add_session_routes(router: APIRouter, context: ApiContext) -> None:
    @router.get("/sessions", summary="List sessions (search, filters, pages)")
    def list_sessions(q: str = Query("", max_length=1000, description="Every word must match the name, tags, "
                                     "notes or latest text (a word's start is enough); best matches first."),
                      tag: str | None = None, model: str | None = Query(None, description="Part of a model name."),
                      mode: Mode | None = None, since: datetime | None = None, until: datetime | None = None,
                      limit: int = Query(50, ge=1, le=MAX_PAGE), offset: int = Query(0, ge=0)) -> Response:
        store = context.store()
        if q.strip() or tag or model or mode or since or until:
            rows: list[SessionSummary] = list(store.search(q, tag=tag, model=model, mode=mode, since=since,
                                                           until=until, limit=limit, offset=offset))
            total: int | None = store.count_sessions(q, tag=tag, model=model, mode=mode, since=since, until=until)
        else:
            rows, total = store.list_sessions(limit, offset), store.count_sessions()
        return _page_response(rows, limit, offset, total)

    @router.post("/sessions", status_code=201, summary="Create a session")
    def create_session(body: NewSession) -> dict[str, Any]:
        store = context.store()
        meta = store.create_session(body.name, body.mode)
        if body.tags or body.notes:
            meta = store.update_session(meta.id, tags=body.tags, notes=body.notes)
        return session_document(store, meta)

    @router.get("/sessions/{session_id}", summary="Read a session")
    def read_session(session_id: str) -> dict[str, Any]:
        store = context.store()
        return session_document(store, store.get_session(session_id))

    @router.patch("/sessions/{session_id}", summary="Rename, tag, annotate or pin a session")
    def change_session(session_id: str, body: SessionChange) -> dict[str, Any]:
        store = context.store()
        meta = store.get_session(session_id)
        if body.name is not None:
            meta = store.rename_session(session_id, body.name)
        fields = body.model_dump(exclude_none=True, exclude={"name"})
        if fields:
            meta = store.update_session(session_id, **fields)
        return session_document(store, meta)

    @router.delete("/sessions/{session_id}", status_code=204, summary="Delete a session with its checkpoints")
    def delete_session(session_id: str) -> Response:
        context.store().delete_session(session_id)
        return Response(status_code=204)


def session_document(store: SessionStore, meta: SessionMeta) -> dict[str, Any]:
    """session.json's fields with the counts a list row has, and the autosave's time."""
    autosave = store.read_autosave(meta.id)
    return {**meta.model_dump(mode="json"), "checkpoints": len(store.checkpoint_ids(meta.id)),
            "kv_bytes": store.kv_bytes(meta.id), "has_autosave": autosave is not None,
            "autosaved": autosave.created.isoformat() if autosave else None}


def _page_response(rows: list[SessionSummary], limit: int, offset: int, total: int | None) -> Response:
    # Spliced from the stored JSON of each row: a page of 1,000 costs milliseconds.
    following = offset + len(rows) if len(rows) == limit else None
    tail = (f'"limit":{limit},"offset":{offset},"next_offset":{"null" if following is None else following},'
            f'"total":{"null" if total is None else total}')
    text = '{"sessions":[' + ",".join(row.to_json() for row in rows) + "]," + tail + "}"
    return Response(text, media_type="application/json")
