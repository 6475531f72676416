"""The error catalog: every failure a client can see, with its stable code and HTTP status.

Services raise these; the API layer turns them (and anything unexpected) into the
contract's envelope ``{"success": false, "error": {"code", "message", "details"}}``.

Hierarchy::

    HomesyncError                      500 INTERNAL_ERROR
    ├── ValidationError                400 VALIDATION_ERROR
    │   ├── InvalidPath                400 INVALID_PATH
    │   └── ChunkSizeMismatch          400 CHUNK_SIZE_MISMATCH
    ├── Unauthorized                   401 UNAUTHORIZED
    │   ├── TokenExpired               401 TOKEN_EXPIRED
    │   ├── InvalidCredentials         401 INVALID_CREDENTIALS
    │   └── InvalidRefreshToken        401 INVALID_REFRESH_TOKEN
    ├── Forbidden                      403 FORBIDDEN
    ├── NotFound                       404 NOT_FOUND
    ├── MethodNotAllowed               405 METHOD_NOT_ALLOWED
    ├── Conflict                       409 CONFLICT
    │   ├── MissingChunks              409 MISSING_CHUNKS
    │   └── NameConflict               409 NAME_CONFLICT
    ├── UploadExpired                  410 UPLOAD_EXPIRED
    ├── PreconditionFailed             412 PRECONDITION_FAILED
    ├── PayloadTooLarge                413 PAYLOAD_TOO_LARGE
    ├── UnsupportedMediaType           415 UNSUPPORTED_MEDIA_TYPE
    ├── RangeNotSatisfiable            416 RANGE_NOT_SATISFIABLE
    ├── ChecksumMismatch               422 CHECKSUM_MISMATCH
    ├── TooManyItems                   422 TOO_MANY_ITEMS
    ├── RateLimited                    429 RATE_LIMITED   (carries Retry-After)
    ├── ClientClosedRequest            499 CLIENT_CLOSED_REQUEST (for logs: nobody reads it)
    ├── ServiceUnavailable             503 UNAVAILABLE
    └── InsufficientStorage            507
        ├── QuotaExceeded              507 QUOTA_EXCEEDED
        └── DiskFull                   507 DISK_FULL
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

__all__ = [
    "ChecksumMismatch",
    "ClientClosedRequest",
    "ChunkSizeMismatch",
    "Conflict",
    "DiskFull",
    "Forbidden",
    "HomesyncError",
    "InsufficientStorage",
    "InvalidCredentials",
    "InvalidPath",
    "InvalidRefreshToken",
    "MethodNotAllowed",
    "MissingChunks",
    "NameConflict",
    "NotFound",
    "PayloadTooLarge",
    "PreconditionFailed",
    "QuotaExceeded",
    "RangeNotSatisfiable",
    "RateLimited",
    "ServiceUnavailable",
    "TokenExpired",
    "TooManyItems",
    "Unauthorized",
    "UnsupportedMediaType",
    "UploadExpired",
    "ValidationError",
]


class HomesyncError(Exception):
    """Base of every error with a place in the contract's error envelope."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "Internal server error"

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or self.default_message
        self.details: dict[str, Any] = details
        super().__init__(self.message)

    def headers(self) -> dict[str, str]:
        """Extra response headers this error needs (Retry-After, ...)."""
        return {}

    def envelope_json(self) -> bytes:
        """The contract's error envelope as JSON bytes, for the few answers written below
        the app (a request too malformed to reach it, one cut off by a stop)."""
        return msgspec.json.encode({"success": False, "error": {
            "code": self.code, "message": self.message, "details": self.details}})


class ValidationError(HomesyncError):
    code, status, default_message = "VALIDATION_ERROR", 400, "Invalid request"


class InvalidPath(ValidationError):
    code, default_message = "INVALID_PATH", "Invalid path"


class ChunkSizeMismatch(ValidationError):
    code, default_message = "CHUNK_SIZE_MISMATCH", "Chunk has the wrong size"


class Unauthorized(HomesyncError):
    code, status, default_message = "UNAUTHORIZED", 401, "Authentication required"


class TokenExpired(Unauthorized):
    code, default_message = "TOKEN_EXPIRED", "Access token expired"


class InvalidCredentials(Unauthorized):
    code, default_message = "INVALID_CREDENTIALS", "Invalid email or password"


class InvalidRefreshToken(Unauthorized):
    code, default_message = "INVALID_REFRESH_TOKEN", "Invalid refresh token"


class Forbidden(HomesyncError):
    code, status, default_message = "FORBIDDEN", 403, "Not allowed"


class NotFound(HomesyncError):
    code, status, default_message = "NOT_FOUND", 404, "Not found"


class MethodNotAllowed(HomesyncError):
    code, status, default_message = "METHOD_NOT_ALLOWED", 405, "Method not allowed"


class Conflict(HomesyncError):
    code, status, default_message = "CONFLICT", 409, "Conflict"


class MissingChunks(Conflict):
    code, default_message = "MISSING_CHUNKS", "Some chunks have not been uploaded"


class NameConflict(Conflict):
    code, default_message = "NAME_CONFLICT", "An entry with that name already exists"


class UploadExpired(HomesyncError):
    code, status, default_message = "UPLOAD_EXPIRED", 410, "Upload session expired"


class PreconditionFailed(HomesyncError):
    """A conditional request's condition is false (``If-Unmodified-Since`` on a download)."""

    code, status, default_message = "PRECONDITION_FAILED", 412, "Precondition failed"


class PayloadTooLarge(HomesyncError):
    code, status, default_message = "PAYLOAD_TOO_LARGE", 413, "Request body too large"


class UnsupportedMediaType(HomesyncError):
    code, status, default_message = "UNSUPPORTED_MEDIA_TYPE", 415, "Unsupported content type"


class RangeNotSatisfiable(HomesyncError):
    code, status, default_message = "RANGE_NOT_SATISFIABLE", 416, "Range not satisfiable"

    def __init__(self, size: int, message: str | None = None) -> None:
        super().__init__(message, size=size)
        self.size = size

    def headers(self) -> dict[str, str]:
        return {"Content-Range": f"bytes */{self.size}"}


class ChecksumMismatch(HomesyncError):
    code, status, default_message = "CHECKSUM_MISMATCH", 422, "Checksum does not match"


class TooManyItems(HomesyncError):
    """A batch (sync/files changes, queue operations) over its configured size."""

    code, status, default_message = "TOO_MANY_ITEMS", 422, "Too many items in one request"


class ClientClosedRequest(HomesyncError):
    """The client hung up before its request body was in (a phone losing Wi-Fi mid-chunk).

    Not a server error, so not a 500 in the log and the metrics: 499, as nginx logs it.
    The answer reaches no one."""

    code, status, default_message = ("CLIENT_CLOSED_REQUEST", 499,
                                     "The client closed the connection before its request was in")


class RateLimited(HomesyncError):
    code, status, default_message = "RATE_LIMITED", 429, "Too many requests"

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, retryAfter=self.retry_after)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ServiceUnavailable(HomesyncError):
    code, status, default_message = "UNAVAILABLE", 503, "Service unavailable"


class InsufficientStorage(HomesyncError):
    code, status, default_message = "INSUFFICIENT_STORAGE", 507, "Not enough storage"


class QuotaExceeded(InsufficientStorage):
    code, default_message = "QUOTA_EXCEEDED", "Storage quota exceeded"


class DiskFull(InsufficientStorage):
    code, default_message = "DISK_FULL", "The server's disk is full"
