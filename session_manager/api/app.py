"""The stand-alone app of `session-manager serve`: the routes over a store, with no model behind them."""

from __future__ import annotations

import ipaddress

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from .. import __version__
from .context import ApiContext
from .errors import error_response
from .routes import PREFIX, build_router

NEEDS_KEY = ("binding {host} makes the API reachable from other machines: give it a key with --api-key "
             "(or $SESSION_MANAGER_API_KEY), or bind 127.0.0.1")


def create_app(context: ApiContext) -> FastAPI:
    app = FastAPI(title="Session Manager", version=__version__, description=(
        f"Sessions and checkpoints of text-generation-webui's Session Manager. Every route is under `{PREFIX}`; "
        "errors are `{\"error\": {\"code\", \"message\"}}`."))
    app.include_router(build_router(context))

    # Paths and methods no route has (404, 405) answer in the same shape as the routes' own errors.
    async def answer(request: Request, exc: Exception) -> JSONResponse:
        return error_response(exc)

    app.add_exception_handler(HTTPException, answer)
    app.add_exception_handler(RequestValidationError, answer)
    return app


def bind_problem(host: str, api_key: str | None) -> str | None:
    """Why the server must not start on ``host`` (None when it may): anything but loopback needs a key."""
    if api_key or is_loopback(host):
        return None
    return NEEDS_KEY.format(host=host)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything
