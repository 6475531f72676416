"""Every failure, ours or Litestar's, as the contract's envelope with the right status."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from homesync.api.wire import respond
from homesync.errors import HomesyncError

__all__ = ["exception_handlers"]

log = logging.getLogger("homesync.api")

_CODES_BY_STATUS = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    503: "UNAVAILABLE",
}


def _error(request: Request[Any, Any, Any], status: int, code: str, message: str,
           details: dict[str, Any] | None = None,
           headers: dict[str, str] | None = None) -> Response[bytes]:
    body = {"success": False, "error": {"code": code, "message": message, "details": details or {}}}
    return respond(request, body, status, headers)


def _homesync_error(request: Request[Any, Any, Any], exc: HomesyncError) -> Response[bytes]:
    if exc.status >= 500 and exc.code == "INTERNAL_ERROR":
        log.exception("internal error on %s %s", request.method, request.url.path)
    return _error(request, exc.status, exc.code, exc.message, exc.details, exc.headers())


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    code = _CODES_BY_STATUS.get(status, "INTERNAL_ERROR" if status >= 500 else "ERROR")
    details: dict[str, Any] = {}
    message = exc.detail or code
    if isinstance(exc, ValidationException) and exc.extra:
        details["errors"] = exc.extra
    if status == 404:
        message = "Not found"
    headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() in ("allow", "retry-after")}
    return _error(request, status, code, message, details, headers)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return _error(request, 500, "INTERNAL_ERROR", "Internal server error")


exception_handlers: dict[int | type[Exception], Any] = {
    HomesyncError: _homesync_error,
    HTTPException: _http_exception,
    Exception: _unexpected,
}
