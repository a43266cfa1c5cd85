"""The route class every API route uses: the key is checked, the body's size bounded, errors answered as JSON.

Done per route (not as app middleware or exception handlers), so the routes behave the same on textgen's
API app, whose handlers answer in OpenAI's shape, as on ``serve``'s own app.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.routing import APIRoute

from .context import ApiContext
from .errors import ApiError, error_response

STREAMS_BODY = "_session_manager_streams_body"
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def streams_body(endpoint: Endpoint) -> Endpoint:
    """Marks a route that reads its (large) body itself, within ``Limits.upload_bytes``."""
    setattr(endpoint, STREAMS_BODY, True)
    return endpoint


def guarded_route(context: ApiContext) -> type[APIRoute]:
    class GuardedRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()
            streams = getattr(self.endpoint, STREAMS_BODY, False)

            async def guarded(request: Request) -> Response:
                try:
                    check_key(request, context.api_key())
                    if streams:
                        check_declared_size(request, context.limits.upload_bytes)
                    else:
                        await read_body_within(request, context.limits.json_bytes)
                    return await handler(request)
                except Exception as exc:
                    return error_response(exc)

            return guarded

    return GuardedRoute


def check_key(request: Request, expected: str | None) -> None:
    """``Authorization: Bearer <key>``, as textgen's own API takes it. No key set: every request passes."""
    if not expected:
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if not header:
        raise ApiError(401, "unauthorized", "this API needs a key: send the header 'Authorization: Bearer <key>'")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise ApiError(403, "forbidden", "the API key is wrong")


def check_declared_size(request: Request, limit: int) -> None:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise too_large(limit)


async def read_body_within(request: Request, limit: int) -> None:
    """Read the body now, refusing it as soon as it passes ``limit`` (a missing or false length cannot
    make the server hold more); the route's own parsing then reads it from memory."""
    check_declared_size(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    request._body = b"".join(chunks)  # what Request.body() returns from now on


def too_large(limit: int) -> ApiError:
    return ApiError(413, "too_large", f"the request body is larger than the {limit:,} bytes this route accepts")
