"""Every failure as one JSON shape, ``{"error": {"code", "message"}}``, with the status code that fits.

The one place where the core's named errors meet HTTP: routes raise, ``error_response`` answers.
No traceback ever reaches a client; unexpected errors are logged here and answered with a plain 500.
"""

from __future__ import annotations

import errno
import logging

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import (
    AmbiguousSession,
    BrokenFile,
    GenerationRunning,
    ImportFailed,
    InvalidId,
    InvalidName,
    InvalidValue,
    KVError,
    NewerFormat,
    NoEngine,
    NotFound,
    NothingToImport,
    SessionManagerError,
    SettingsError,
    StorageError,
    StoreBusy,
)

log = logging.getLogger("session_manager")

# Most specific first: the first class an error is an instance of decides.
_STATUS: list[tuple[type[SessionManagerError], int, str]] = [
    (NotFound, 404, "not_found"),
    (AmbiguousSession, 400, "ambiguous"),
    (InvalidId, 400, "invalid_id"),
    (InvalidName, 400, "invalid_name"),
    (InvalidValue, 400, "invalid_value"),
    (SettingsError, 400, "invalid_setting"),
    (NothingToImport, 400, "nothing_to_import"),
    (ImportFailed, 400, "import_failed"),
    (GenerationRunning, 409, "generation_running"),
    (NewerFormat, 409, "newer_format"),
    (NoEngine, 501, "no_engine"),
    (StoreBusy, 503, "store_busy"),
    (BrokenFile, 500, "broken_file"),
    (KVError, 500, "kv_failed"),
    (StorageError, 500, "storage_failed"),
]
_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type"}
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class ApiError(Exception):
    """A refusal decided by the API itself (a key, a size, a name): status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(exc: BaseException) -> JSONResponse:
    """The JSON answer for any exception a route let escape."""
    status, code, message = _classify(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _classify(exc: BaseException) -> tuple[int, str, str]:
    if _disk_full(exc):
        return 507, "disk_full", str(exc) if isinstance(exc, SessionManagerError) else \
            "the disk is full: nothing was saved (what was saved before is intact)"
    if isinstance(exc, ApiError):
        return exc.status, exc.code, exc.message
    if isinstance(exc, RequestValidationError):
        return 400, "bad_request", validation_message(exc)
    if isinstance(exc, HTTPException):
        return exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail)
    if isinstance(exc, SessionManagerError):
        status, code = next(((s, c) for kind, s, c in _STATUS if isinstance(exc, kind)), (500, "failed"))
        return status, code, str(exc)
    log.error("Session Manager API: unexpected error", exc_info=exc)
    return 500, "internal", "the server failed unexpectedly (its log has the details); nothing was changed"


def validation_message(exc: RequestValidationError) -> str:
    """One line: where each problem is and what it is ("body.name: Field required; ...")."""
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", "invalid")))
    more = len(exc.errors()) - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "") or "the request is not valid"


def _disk_full(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False
