"""Every failure, ours or Litestar's, as the contract's envelope with the right status."""

from __future__ import annotations

import errno
import logging
import sqlite3
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from homesync.api.wire import respond
from homesync.errors import DiskFull, HomesyncError, ServiceUnavailable
from homesync.store.busy import is_database_busy

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


# SQLite's primary result codes (the low byte of an extended one, as in SQLITE_IOERR_WRITE).
_SQLITE_UNWRITABLE = {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN}
_OS_UNWRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


class _Busy(ServiceUnavailable):
    """The database stayed locked past the busy timeout: a long `homesync gc` or `user
    remove` beside the server. Soon over, so say when to try again."""

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "5"}


def _storage_failure(exc: Exception) -> HomesyncError | None:
    """A full disk, storage that cannot be written or a database held by another process,
    wherever it surfaced (a chunk, the database's WAL, a commit): the answer a client can
    act on. Nothing was stored — a failed write rolls its whole transaction back — and
    reads keep working."""
    if is_database_busy(exc):  # another process kept the lock
        return _Busy("The database is busy with maintenance; try again shortly")
    if isinstance(exc, sqlite3.Error):
        code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
        if code == sqlite3.SQLITE_FULL:
            return DiskFull()
        if code in _SQLITE_UNWRITABLE:
            return ServiceUnavailable("The server cannot write to its storage")
    elif isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return DiskFull()
        if exc.errno in _OS_UNWRITABLE:
            return ServiceUnavailable("The server cannot write to its storage")
    return None


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    failure = _storage_failure(exc)
    if failure is not None:
        # One line, no traceback: the cause is the disk, not the code path.
        log.error("%s on %s %s: %s", failure.code, request.method, request.url.path, exc)
        return _homesync_error(request, failure)
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return _error(request, 500, "INTERNAL_ERROR", "Internal server error")


exception_handlers: dict[int | type[Exception], Any] = {
    HomesyncError: _homesync_error,
    HTTPException: _http_exception,
    Exception: _unexpected,
}
