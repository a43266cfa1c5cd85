"""Routes that move sessions in and out, in every format the CLI has, through the CLI's own writers and readers."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from .. import formats
from ..choices import DOCUMENT_SUFFIX, Choice
from ..errors import ImportFailed, NotFound
from ..formats.session_archive import export_session
from ..store import SessionStore
from .context import ApiContext
from .errors import ApiError
from .guard import streams_body, too_large
from .schemas import ExportRequest, SessionFormat, is_plain_name, training_format

MEDIA = {".zip": "application/zip", ".json": "application/json", ".jsonl": "application/x-ndjson",
         ".md": "text/markdown; charset=utf-8", ".html": "text/html; charset=utf-8"}
MAX_FILE_NAME = 255


def add_transfer_routes(router: APIRouter, context: ApiContext) -> None:
    @router.get("/sessions/{session_id}/export", summary="Export one session as a file",
                response_class=FileResponse)
    def export_one(session_id: str, format: SessionFormat = "zip",
                   checkpoints: Annotated[list[Choice] | None, Query(description="markdown, html: which "
                                                                     "checkpoints (default all).")] = None
                   ) -> FileResponse:
        store = context.store()
        store.get_session(session_id)
        folder = Path(tempfile.mkdtemp(prefix="sm-export-"))
        try:
            if format in DOCUMENT_SUFFIX:
                path = formats.export_document(store, session_id, folder, format, checkpoints or ("all",))  # type: ignore[arg-type]
            else:
                path = export_session(store, session_id, folder, format)  # type: ignore[arg-type]
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return _file(path, folder)

    @router.post("/exports", summary="Export many sessions into one file (zip, or training JSONL)",
                 response_class=FileResponse)
    def export_many(body: ExportRequest) -> FileResponse:
        store = context.store()
        ids = _chosen(store, body)
        folder = Path(tempfile.mkdtemp(prefix="sm-export-"))
        try:
            training = training_format(body.format)
            if training is None:
                path = formats.export_bulk(store, ids, folder / "sessions.zip", not body.no_kv).path
            else:
                path = formats.export_training(store, ids, folder / f"training-{training}.jsonl", training,
                                               body.checkpoints or ("latest",), body.metadata).path
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return _file(path, folder)

    @router.post("/imports", summary="Import a file (any format the CLI imports); the body is the file",
                 openapi_extra={"requestBody": {"required": True, "content": {
                     "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
    @streams_body
    async def import_file(request: Request, name: str = Query(..., max_length=MAX_FILE_NAME, description=(
            "The file's name, without a folder: its ending (.zip, .json, .jsonl, .txt) helps tell the format."))
                          ) -> JSONResponse:
        check_file_name(name)
        store = context.store()
        with store.scratch() as folder:
            path = folder / name
            await receive_file(request, path, context.limits.upload_bytes)
            report = await run_in_threadpool(formats.import_paths, store, [path])
        if report.failed and not (report.taken or report.skipped):
            raise ImportFailed(" ".join(item.message for item in report.failed))
        return JSONResponse(report.to_dict(), status_code=201 if report.taken else 200)


def check_file_name(name: str) -> None:
    """A file name alone: a folder, a drive, ``..`` or a control character is refused, never cleaned up."""
    if not is_plain_name(name):
        raise ApiError(400, "invalid_name", f"{name!r} is not a plain file name: give the name without any folder "
                       "(e.g. story.zip)")


async def receive_file(request: Request, path: Path, limit: int) -> None:
    """Write the body to ``path`` as it arrives, stopping at ``limit`` bytes."""
    size = 0
    with open(path, "xb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            await run_in_threadpool(out.write, chunk)
    if size == 0:
        raise ApiError(400, "bad_request", "the request body is empty: send the file's bytes as the body")


def _chosen(store: SessionStore, body: ExportRequest) -> list[str]:
    if not (body.sessions or body.tag or body.search or body.all):
        raise ApiError(400, "bad_request", 'choose the sessions: "sessions" (ids), "tag", "search" or "all": true')
    for session_id in body.sessions:
        store.get_session(session_id)  # 404 (or 400 for a malformed id) before anything is written
    rows = formats.select_sessions(store, body.sessions, tag=body.tag, search=body.search, everything=body.all)
    if not rows:
        raise NotFound("no session matches" + (f" the tag {body.tag!r}" if body.tag else "") +
                       (f" the search {body.search!r}" if body.search else ""))
    return [row.meta.id for row in rows]


def _file(path: Path, folder: Path) -> FileResponse:
    """The file as a download; its temporary folder goes once it is sent."""
    return FileResponse(path, media_type=MEDIA.get(path.suffix, "application/octet-stream"), filename=path.name,
                        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))
