"""All routes of the sessions API on one router, under one prefix, behind the guard (key, size, errors)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer

from .. import __version__
from .checkpoints import add_checkpoint_routes
from .context import ApiContext
from .guard import guarded_route
from .sessions import add_session_routes
from .transfers import add_transfer_routes

PREFIX = "/session-manager/v1"  # beside textgen's /v1/...: no route of textgen's can start like this
_BEARER = HTTPBearer(auto_error=False, description="The API key (textgen's --api-key, or serve's --api-key).")


def build_router(context: ApiContext) -> APIRouter:
    # The bearer dependency only documents the key (the docs' Authorize button); the guard checks it first.
    router = APIRouter(prefix=PREFIX, route_class=guarded_route(context), tags=["Session Manager"],
                       dependencies=[Depends(_BEARER)])

    @router.get("", summary="What this server offers")
    def about() -> dict[str, Any]:
        return {"name": "Session Manager", "version": __version__, "restore": context.engine() is not None}

    add_session_routes(router, context)
    add_checkpoint_routes(router, context)
    add_transfer_routes(router, context)
    return router


def build_off_router(reason: str) -> APIRouter:
    """Every route of the API answers 403 with ``reason``: the routes are off here, and a client learns why."""
    router = APIRouter(prefix=PREFIX, tags=["Session Manager"])

    @router.api_route("{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], summary="Off here")
    def off(rest: str) -> JSONResponse:
        return JSONResponse({"error": {"code": "off", "message": reason}}, status_code=403)

    return router
